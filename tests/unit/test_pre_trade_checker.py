"""PreTradeChecker: per-order rejections, and approval through both layers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from mtquant.config.instruments import InstrumentSpec
from mtquant.config.risk import RiskConfig
from mtquant.instruments import Instrument, InstrumentUniverse
from mtquant.risk_management.portfolio_risk_manager import PortfolioRiskManager
from mtquant.risk_management.pre_trade_checker import PreTradeChecker


def make_universe() -> InstrumentUniverse:
    spec = {
        "EURUSD": ("forex", InstrumentSpec(sector="forex", margin_rate=0.0333)),
        "USDJPY": ("forex", InstrumentSpec(sector="forex", margin_rate=0.0333, usd_base=True)),
        "SPX500": ("equity", InstrumentSpec(sector="equity", margin_rate=0.05)),
    }
    return InstrumentUniverse(
        instruments=tuple(Instrument(s, grp, sp) for s, (grp, sp) in spec.items()),
        specialists=("forex", "equity"),
    )


@dataclass
class Order:
    symbol: str
    price: float
    quantity: float | None = None
    notional: float | None = None


@dataclass
class Pos:
    symbol: str
    notional: float


@dataclass
class Account:
    equity: float
    margin_available: float | None = None


ACCOUNT = Account(100_000.0)


@pytest.fixture
def checker() -> PreTradeChecker:
    c = PreTradeChecker(RiskConfig(), make_universe())
    c.update_prices({"EURUSD": 1.10, "USDJPY": 150.0, "SPX500": 5000.0})
    return c


def test_order_within_all_limits_passes(checker: PreTradeChecker) -> None:
    assert checker.check_order(Order("EURUSD", 1.101, quantity=10_000), ACCOUNT) == (True, "ok")


def test_unknown_instrument_is_rejected(checker: PreTradeChecker) -> None:
    ok, reason = checker.check_order(Order("BTCUSD", 60_000.0, notional=1.0), ACCOUNT)
    assert not ok and reason.startswith("unknown_symbol") and "'BTCUSD'" in reason


def test_price_outside_band_or_without_reference_is_rejected(checker: PreTradeChecker) -> None:
    ok, reason = checker.check_order(Order("SPX500", 5600.0, notional=1_000.0), ACCOUNT)
    assert not ok and reason.startswith("price_band") and "+12.00%" in reason
    fresh = PreTradeChecker(RiskConfig(), make_universe())
    no_price = fresh.check_order(Order("SPX500", 5000.0, notional=1.0), ACCOUNT)[1]
    assert no_price.startswith("no_price") and "no last price" in no_price
    assert not checker.check_order(Order("SPX500", -1.0, notional=1.0), ACCOUNT)[0]


def test_position_size_counts_the_existing_position(checker: PreTradeChecker) -> None:
    # 1.0 x equity held + 0.6 x equity ordered > max_position_weight 1.5
    ok, reason = checker.check_order(
        Order("SPX500", 5000.0, notional=60_000.0), ACCOUNT, [Pos("SPX500", 100_000.0)]
    )
    assert not ok and reason.startswith("position_size") and "max_position_weight" in reason
    # the same order reducing a short is fine
    assert checker.check_order(
        Order("SPX500", 5000.0, notional=60_000.0), ACCOUNT, [Pos("SPX500", -100_000.0)]
    )[0]


def test_gross_leverage_and_margin_limits(checker: PreTradeChecker) -> None:
    held = [Pos("EURUSD", 140_000.0), Pos("USDJPY", -140_000.0)]
    ok, reason = checker.check_order(Order("SPX500", 5000.0, notional=40_000.0), ACCOUNT, held)
    assert not ok and reason.startswith("leverage") and "3.200 > max_gross_leverage" in reason
    # reducing the gross of a book beyond the limit is always allowed
    assert checker.check_order(Order("EURUSD", 1.1, notional=-40_000.0), ACCOUNT, held)[0]
    tight = PreTradeChecker(RiskConfig(max_margin_usage=0.01), make_universe())
    tight.update_prices({"SPX500": 5000.0})
    ok, reason = tight.check_order(Order("SPX500", 5000.0, notional=40_000.0), ACCOUNT)
    # 0.4 x equity at 5% margin = 0.02 x equity > 0.01
    assert not ok and reason.startswith("margin") and "0.0200 x equity" in reason


def test_quantity_is_converted_with_usd_per_unit(checker: PreTradeChecker) -> None:
    assert checker.order_notional(Order("USDJPY", 150.0, quantity=-20_000)) == -20_000.0
    assert checker.order_notional(Order("EURUSD", 1.1, quantity=20_000)) == pytest.approx(22_000)


def test_approval_needs_both_layers(checker: PreTradeChecker) -> None:
    manager = PortfolioRiskManager(RiskConfig(), make_universe())
    rng = np.random.default_rng(0)
    manager.set_returns_history(rng.normal(0.0, [0.005, 0.005, 0.012], (200, 3)))
    small = Order("SPX500", 5000.0, notional=50_000.0)
    assert checker.approve(small, ACCOUNT, [], manager) == (True, "ok")
    big = Order("SPX500", 5000.0, notional=110_000.0)  # passes size and sector, fails VaR
    assert checker.check_order(big, ACCOUNT)[0]
    ok, reason = checker.approve(big, ACCOUNT, [], manager)
    assert not ok and reason.startswith("portfolio: layer 1 VaR")
    ok, reason = checker.approve(Order("XAU", 1.0, notional=1.0), ACCOUNT, [], manager)
    assert not ok and reason.startswith("pre-trade: unknown_symbol: unknown instrument")
