"""Per-order checks before an order reaches the broker (instrument level).

An order is approved only when it passes both layers: this checker (known instrument, price
within the sanity band of the last price, resulting position size, gross leverage, margin) and
the portfolio layer
(:meth:`~mtquant.risk_management.portfolio_risk_manager.PortfolioRiskManager.check_portfolio_risk`
on the book the order would produce). :meth:`PreTradeChecker.approve` runs both in that order.

Orders are anything with ``.symbol``, ``.price`` and either ``.notional`` (signed USD) or
``.quantity`` (signed units of the base asset; USD notional = units x price, or units when USD
is the base currency) — :class:`OrderLike` — so the execution layer stays independent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from mtquant.config.risk import RiskConfig
from mtquant.instruments import InstrumentUniverse
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

    def __init__(self, risk_cfg: RiskConfig, universe: InstrumentUniverse) -> None:
        self.cfg = risk_cfg
        self.universe = universe
        self.specs = {i.symbol: i.spec for i in universe.instruments}
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
        quantity = getattr(order, "quantity", None)
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
        sym, cfg = order.symbol, self.cfg
        if sym not in self.specs:
            return False, f"unknown instrument {sym!r}; known {self.universe.symbols}"
        price = float(order.price)
        if not (math.isfinite(price) and price > 0):
            return False, f"{sym}: order price {price} is not a positive number"
        last = self.last_prices.get(sym)
        if last is None:
            return False, f"{sym}: no last price to check the order price against"
        if abs(price / last - 1.0) > cfg.price_band:
            return False, (
                f"{sym}: order price {price} is {price / last - 1.0:+.2%} from the last price "
                f"{last} (price_band {cfg.price_band:.0%})"
            )
        notional = self.order_notional(order)
        if not math.isfinite(notional):
            return False, f"{sym}: order notional {notional} is not finite"
        equity = float(portfolio.equity)
        if not equity > 0:
            return False, f"account equity {equity} is not positive"
        book = _book_after(positions, sym, notional)
        weight = book.get(sym, 0.0) / equity
        if abs(weight) > cfg.max_position_weight:
            return False, (
                f"{sym}: position weight {weight:+.3f} x equity exceeds max_position_weight "
                f"{cfg.max_position_weight:.3f}"
            )
        gross = sum(abs(v) for v in book.values()) / equity
        if gross > cfg.max_gross_leverage:
            return False, (
                f"{sym}: gross leverage after the order {gross:.3f} > max_gross_leverage "
                f"{cfg.max_gross_leverage:.3f}"
            )
        margin = sum(abs(v) * self.specs[s].margin_rate for s, v in book.items() if s in self.specs)
        available = cfg.max_margin_usage * equity
        broker = getattr(portfolio, "margin_available", None)
        if broker is not None:
            available = min(available, float(broker))
        if margin > available:
            return False, (
                f"{sym}: margin after the order {margin:,.2f} USD > available {available:,.2f} USD"
            )
        return True, "ok"

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
