"""Execution objects: ``Order``, ``Fill``, ``Position`` and the account snapshot ``Portfolio``.

Quantities are in units of the base asset (EUR for EURUSD, USD for USDJPY, ounces for XAUUSD,
index points x 1 for the CFDs); money in USD. Orders are market orders decided at a close and
filled at the next day's open (:mod:`mtquant.execution.kernel`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import torch

from mtquant.errors import DataError


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"  # filled at the next day's open (close for close-only series)


@dataclass(frozen=True)
class Order:
    """An instruction to trade ``quantity`` units (> 0) of ``symbol`` on ``side``."""

    symbol: str
    side: Side
    quantity: float  # units of base, > 0
    order_type: OrderType = OrderType.MARKET
    price: float | None = None  # reference price at decision time (the close)
    timestamp: datetime | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if not (self.quantity > 0 and self.quantity < float("inf")):
            raise DataError(
                f"order {self.symbol} {self.side.value}: quantity must be a positive finite number "
                f"of units; got {self.quantity!r}"
            )

    @property
    def signed_quantity(self) -> float:
        return self.quantity if self.side is Side.BUY else -self.quantity


@dataclass(frozen=True)
class Fill:
    """An executed trade with its costs (USD, positive = paid)."""

    symbol: str
    units: float  # signed: + bought, - sold
    price: float
    spread_cost: float
    commission: float
    slippage: float
    timestamp: datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class Rejection:
    """An order the broker refused, with the pre-trade rule that refused it
    (:data:`~mtquant.risk_management.guard.PRE_TRADE_REASONS`, or ``unknown_symbol``)."""

    order: Order
    reason: str
    timestamp: datetime | None = None


@dataclass(frozen=True)
class ExecutionReport:
    """What one ``submit_orders`` call did: the fills and the refused orders (never dropped)."""

    fills: list[Fill]
    rejected: list[Rejection]


@dataclass(frozen=True)
class Position:
    """An open position: signed ``units`` of base bought at ``entry_price`` (average)."""

    symbol: str
    units: float
    entry_price: float
    last_price: float
    usd_base: bool = False

    @property
    def notional(self) -> float:
        """Signed USD notional at the last price (``units`` itself when USD is the base)."""
        return self.units if self.usd_base else self.units * self.last_price

    @property
    def unrealized_pnl(self) -> float:
        """USD P&L since entry (USD-based: the quote P&L converted at the last price)."""
        if self.usd_base:
            return self.units * (1.0 - self.entry_price / self.last_price)
        return self.units * (self.last_price - self.entry_price)


@dataclass
class Portfolio:
    """Account snapshot at a close.

    ``returns_history`` (last 30 daily returns), ``peak_equity`` and ``specialist_stats``
    (``[3, S]``: EWMA of each specialist's daily net return, of its square, of its hit indicator)
    feed the meta-controller's state; the :class:`~mtquant.execution.paper_broker.PaperBroker`
    keeps them with the environment's kernel.
    """

    equity: float
    cash: float  # balance: equity minus unrealised P&L
    positions: list[Position]
    margin_used: float
    margin_available: float
    peak_equity: float
    returns_history: torch.Tensor = field(
        default_factory=lambda: torch.zeros(30, dtype=torch.float64)
    )
    specialist_stats: torch.Tensor = field(
        default_factory=lambda: torch.zeros(3, 0, dtype=torch.float64)
    )
    row: int = -1  # row of the last close seen
    timestamp: datetime | None = None
