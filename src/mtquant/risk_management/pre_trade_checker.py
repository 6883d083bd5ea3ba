"""Per-order checks before an order reaches the broker (instrument level), the plan's API over
the same rules the batched decision path applies.

:meth:`PreTradeChecker.check_order` refuses an order in an unknown instrument, with a price that
is not a positive number, without a last price to check it against (no price for that bar), or
outside ``risk.price_band`` of that price; the size rules (position weight, gross leverage,
margin: an order that adds exposure to a book beyond them) are
:func:`~mtquant.risk_management.guard.gate_orders` at one account, the function the risk
transform and :meth:`HierarchicalTradingSystem.step` use. An order is approved only when it also
passes the portfolio layer (:meth:`PortfolioRiskManager.check_portfolio_risk` of the book it
produces): :meth:`PreTradeChecker.approve` runs both in that order. The
:class:`~mtquant.execution.paper_broker.PaperBroker` gates every submitted order here.

Orders are anything with ``.symbol``, ``.price`` and either ``.notional`` (signed USD) or
``.quantity`` (signed units of the base asset; USD notional = units x price, or units when USD
is the base currency) — :class:`OrderLike` — so the execution layer stays independent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import torch

from mtquant.config.risk import RiskConfig
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.guard import PRE_TRADE_REASONS, GuardRules, gate_orders
from mtquant.risk_management.portfolio_risk_manager import (
    BookPosition,
    PortfolioLike,
    PortfolioRiskManager,
    PositionLike,
)


@runtime_checkable
class OrderLike(Protocol):
    """An order: symbol and limit / expected fill price (quantity or notional read if present)."""

    @property
    def symbol(self) -> str: ...

    @property
    def price(self) -> float: ...


class PreTradeChecker:
    """Instrument-level checks of one order against the current book (see module doc)."""

    def __init__(
        self, risk_cfg: RiskConfig, universe: InstrumentUniverse, rebalance_band: float = 0.0
    ) -> None:
        self.cfg = risk_cfg
        self.rules = GuardRules.from_config(risk_cfg, rebalance_band)
        self.universe = universe
        self.specs = {i.symbol: i.spec for i in universe.instruments}
        self.margin_rate = universe.terms(dtype=torch.float64)["margin_rate"]
        self.last_prices: dict[str, float] = {}

    def update_prices(self, prices: Mapping[str, float]) -> None:
        """Record the last traded / close price per symbol (the reference of the price band)."""
        for sym, p in prices.items():
            self.last_prices[sym] = float(p)

    def order_notional(self, order: OrderLike) -> float:
        """Signed USD notional of ``order`` (``.notional``, else ``.quantity`` x USD per unit)."""
        notional = getattr(order, "notional", None)
        if notional is not None:
            return float(notional)
        # an execution Order holds a positive quantity and a side: its signed_quantity
        quantity = getattr(order, "signed_quantity", getattr(order, "quantity", None))
        if quantity is None:
            raise AttributeError(f"order in {order.symbol} has neither .notional nor .quantity")
        usd_base = self.specs[order.symbol].usd_base
        return float(quantity) * (1.0 if usd_base else float(order.price))

    def check_order(
        self,
        order: OrderLike,
        portfolio: PortfolioLike,
        positions: Sequence[PositionLike] = (),
    ) -> tuple[bool, str]:
        """``(ok, reason)`` for one order given the current ``positions`` and account."""
        sym = order.symbol
        if sym not in self.specs:
            return (
                False,
                f"unknown_symbol: unknown instrument {sym!r}; known {self.universe.symbols}",
            )
        price = float(order.price)
        if not (math.isfinite(price) and price > 0):
            return False, f"price_band: {sym} order price {price} is not a positive number"
        last = self.last_prices.get(sym)
        if last is None:
            return False, f"no_price: {sym} has no last price to check the order price against"
        notional = self.order_notional(order)
        if not math.isfinite(notional):
            return False, f"{sym}: order notional {notional} is not finite"
        equity = float(portfolio.equity)
        if not equity > 0:
            return False, f"account equity {equity} is not positive"
        symbols = self.universe.symbols
        k = symbols.index(sym)
        current = torch.zeros(1, len(symbols), dtype=torch.float64)
        for p in positions:
            current[0, symbols.index(p.symbol)] += float(p.notional) / equity
        target = current.clone()
        target[0, k] += notional / equity
        prices = torch.full_like(current, price)
        lasts = torch.full_like(current, last)
        tradable = torch.ones_like(current, dtype=torch.bool)
        book, reasons = gate_orders(
            current, target, tradable, self.margin_rate, self.rules, prices, lasts
        )
        code = int(reasons[0, k])
        if code == 0:
            return True, "ok"
        return False, f"{PRE_TRADE_REASONS[code]}: {self._explain(code, sym, price, last, target)}"

    def _explain(self, code: int, sym: str, price: float, last: float, book: torch.Tensor) -> str:
        """The figures behind a refusal (the gate gives the rule; this says by how much)."""
        r = self.rules
        if code == PRE_TRADE_REASONS.index("price_band"):
            return (
                f"{sym} order price {price} is {price / last - 1.0:+.2%} from the last price "
                f"{last} (price_band {r.price_band:.0%})"
            )
        if code == PRE_TRADE_REASONS.index("position_size"):
            w = float(book[0, self.universe.symbols.index(sym)])
            return f"{sym} position weight {w:+.3f} x equity exceeds max_position_weight {r.max_position_weight:.3f}"
        if code == PRE_TRADE_REASONS.index("leverage"):
            gross = float(book.abs().sum())
            return f"gross leverage after the order {gross:.3f} > max_gross_leverage {r.max_gross_leverage:.3f}"
        margin = float((book.abs() * self.margin_rate).sum())
        return f"margin after the order {margin:.4f} x equity > max_margin_usage {r.max_margin_usage:.4f}"

    def check_book(
        self,
        current: torch.Tensor,
        target: torch.Tensor,
        tradable: torch.Tensor,
        order_price: torch.Tensor,
        last_price: torch.Tensor,
    ) -> torch.Tensor:
        """Reason codes ``[B, N]`` (:data:`PRE_TRADE_REASONS`) of moving ``current`` to ``target``
        weights: :func:`gate_orders` with this checker's rules (how a broker gates a batch of
        orders at once; 0 = the leg's order passes, or there is none)."""
        _, reasons = gate_orders(
            current, target, tradable, self.margin_rate.to(target.dtype), self.rules,
            order_price, last_price,
        )  # fmt: skip
        return reasons

    def approve(
        self,
        order: OrderLike,
        portfolio: PortfolioLike,
        positions: Sequence[PositionLike],
        manager: PortfolioRiskManager,
    ) -> tuple[bool, str]:
        """Both layers: this checker, then the portfolio check of the resulting book."""
        ok, reason = self.check_order(order, portfolio, positions)
        if not ok:
            return False, f"pre-trade: {reason}"
        book = _book_after(positions, order.symbol, self.order_notional(order))
        proposed = [BookPosition(s, v) for s, v in book.items()]
        ok, reason = manager.check_portfolio_risk(proposed, portfolio)
        return (True, "ok") if ok else (False, f"portfolio: {reason}")


def _book_after(
    positions: Sequence[PositionLike], symbol: str, notional: float
) -> dict[str, float]:
    """Signed notional per symbol after adding ``notional`` in ``symbol``."""
    book: dict[str, float] = {}
    for p in positions:
        book[p.symbol] = book.get(p.symbol, 0.0) + float(p.notional)
    book[symbol] = book.get(symbol, 0.0) + notional
    return book
