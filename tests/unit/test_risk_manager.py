"""PortfolioRiskManager: the four layers, VaR dict, sectors, margin, report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtquant.config.instruments import InstrumentSpec
from mtquant.config.risk import RiskConfig
from mtquant.errors import DataError
from mtquant.instruments import Instrument, InstrumentUniverse
from mtquant.risk_management.limits import RiskLimits, enforce_limits
from mtquant.risk_management.portfolio_risk_manager import PortfolioRiskManager
from mtquant.risk_management.var import parametric_var

Z95 = 1.6448536269514722


def make_universe() -> InstrumentUniverse:
    spec = {
        "EURUSD": ("forex", InstrumentSpec(sector="forex", margin_rate=0.0333)),
        "GBPUSD": ("forex", InstrumentSpec(sector="forex", margin_rate=0.0333)),
        "XAUUSD": ("commodities", InstrumentSpec(sector="commodities", margin_rate=0.05)),
        "SPX500": ("equity", InstrumentSpec(sector="equity", margin_rate=0.05)),
    }
    return InstrumentUniverse(
        instruments=tuple(Instrument(s, grp, sp) for s, (grp, sp) in spec.items()),
        specialists=("forex", "commodities", "equity"),
    )


@dataclass
class Pos:
    symbol: str
    notional: float


@dataclass
class Account:
    equity: float
    margin_available: float | None = None


def make_returns(seed: int = 0) -> np.ndarray:
    """EURUSD and GBPUSD ~0.9 correlated, daily vol ~0.5-1 %."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((200, 1))
    e = rng.standard_normal((200, 4))
    r = np.column_stack([f[:, 0] + 0.3 * e[:, 0], f[:, 0] + 0.3 * e[:, 1], e[:, 2], e[:, 3]])
    return r * np.array([0.005, 0.006, 0.01, 0.01])


@pytest.fixture
def manager() -> PortfolioRiskManager:
    m = PortfolioRiskManager(RiskConfig(), make_universe())
    m.set_returns_history(make_returns())
    return m


ACCOUNT = Account(equity=100_000.0)


def test_compliant_book_passes_all_layers(manager: PortfolioRiskManager) -> None:
    book = [Pos("EURUSD", 50_000), Pos("XAUUSD", -30_000), Pos("SPX500", 40_000)]
    assert manager.check_portfolio_risk(book, ACCOUNT) == (True, "ok")


def test_layer_one_rejects_var_above_limit(manager: PortfolioRiskManager) -> None:
    # 1.15 x equity in two independent 1%-vol legs of two sectors: every other limit holds,
    # VaR ~ 1.645 x 1.15% x sqrt(2) ~ 2.7% > 2%
    book = [Pos("SPX500", 115_000), Pos("XAUUSD", 115_000)]
    ok, reason = manager.check_portfolio_risk(book, ACCOUNT)
    assert not ok and reason.startswith("layer 1 VaR")


def test_layer_two_rejects_correlated_legs(manager: PortfolioRiskManager) -> None:
    ok, reason = manager.check_portfolio_risk(
        [Pos("EURUSD", 50_000), Pos("GBPUSD", 40_000)], ACCOUNT
    )
    assert not ok and reason.startswith("layer 2 correlation")
    hedged = [Pos("EURUSD", 50_000), Pos("GBPUSD", -40_000)]
    assert manager.check_portfolio_risk(hedged, ACCOUNT)[0]


def test_layer_three_rejects_sector_concentration() -> None:
    m = PortfolioRiskManager(RiskConfig(max_portfolio_var=1.0), make_universe())
    m.set_returns_history(make_returns())
    # forex cap = 0.4 x 3 = 1.2 x equity; 1.3 x equity in EURUSD alone
    ok, reason = m.check_portfolio_risk([Pos("EURUSD", 130_000)], ACCOUNT)
    assert not ok and reason.startswith("layer 3 sector: forex")


def test_layer_four_rejects_margin_above_the_usage_limit() -> None:
    m = PortfolioRiskManager(RiskConfig(max_margin_usage=0.02), make_universe())
    m.set_returns_history(make_returns())
    book = [Pos("EURUSD", 50_000), Pos("XAUUSD", -30_000)]  # margin 1665 + 1500 = 3165
    ok, reason = m.check_portfolio_risk(book, ACCOUNT)
    assert not ok and reason.startswith("layer 4 margin") and "3,165.00 USD > " in reason
    manager = m
    assert manager.check_margin_requirement(book, 3_166.0) == (True, pytest.approx(3_165.0))
    assert manager.check_margin_requirement(book, 3_000.0)[0] is False


def test_accepted_book_is_left_untouched_by_enforce_limits(manager: PortfolioRiskManager) -> None:
    book = [Pos("EURUSD", 50_000), Pos("XAUUSD", -30_000), Pos("SPX500", 40_000)]
    assert manager.check_portfolio_risk(book, ACCOUNT)[0]
    w = torch.from_numpy(manager.weights(book, ACCOUNT.equity)).unsqueeze(0)
    limits = RiskLimits.from_config(manager.cfg, manager.universe)
    cov = torch.from_numpy(manager.covariance())
    out, diag = enforce_limits(w, cov, limits, manager.var_inputs())
    assert torch.equal(out, w) and diag.binding.item() == 0


def test_calculate_var_returns_value_and_bounds_for_each_method(
    manager: PortfolioRiskManager,
) -> None:
    book = [Pos("EURUSD", 50_000), Pos("SPX500", -25_000)]
    r = make_returns()
    res = manager.calculate_var(book, r, equity=100_000.0)
    assert res["method"] == "variance_covariance"
    assert res["var"] == pytest.approx(parametric_var(r, np.array([0.5, 0, 0, -0.25])), rel=1e-12)
    for method in ("historical", "monte_carlo"):
        out = manager.calculate_var(book, r, method=method, equity=100_000.0)
        assert out["var_lower"] < out["var"] < out["var_upper"]
    with pytest.raises(DataError, match="method"):
        manager.calculate_var(book, r, method="garch")


def test_sector_allocation_is_share_of_gross_notional(manager: PortfolioRiskManager) -> None:
    book = [
        Pos("EURUSD", 30_000),
        Pos("GBPUSD", -10_000),
        Pos("XAUUSD", 20_000),
        Pos("SPX500", -40_000),
    ]
    assert manager.calculate_sector_allocation(book) == pytest.approx(
        {"forex": 0.4, "commodities": 0.2, "equity": 0.4}
    )
    assert manager.calculate_sector_allocation([]) == {
        "forex": 0.0,
        "commodities": 0.0,
        "equity": 0.0,
    }


def test_check_correlation_risk_on_a_given_matrix(manager: PortfolioRiskManager) -> None:
    corr = np.eye(4)
    corr[0, 1] = corr[1, 0] = 0.8
    ok, exposure = manager.check_correlation_risk([Pos("EURUSD", 1.0), Pos("GBPUSD", 1.0)], corr)
    assert not ok and exposure == pytest.approx(0.8)
    ok, exposure = manager.check_correlation_risk([Pos("EURUSD", 1.0), Pos("GBPUSD", -1.0)], corr)
    assert ok and exposure == pytest.approx(-0.8)


def test_unknown_symbol_and_missing_history_are_clear_errors() -> None:
    m = PortfolioRiskManager(RiskConfig(), make_universe())
    with pytest.raises(DataError, match="return rows"):
        m.check_portfolio_risk([Pos("EURUSD", 1.0)], ACCOUNT)
    m.set_returns_history(make_returns())
    with pytest.raises(DataError, match="BTCUSD"):
        m.check_portfolio_risk([Pos("BTCUSD", 1.0)], ACCOUNT)


def test_risk_report_has_every_section(manager: PortfolioRiskManager) -> None:
    book = [Pos("EURUSD", 50_000), Pos("SPX500", 40_000)]
    rep = manager.risk_report(book, ACCOUNT)
    assert rep["gross_leverage"] == pytest.approx(0.9)
    assert rep["margin_required"] == pytest.approx(50_000 * 0.0333 + 40_000 * 0.05)
    assert rep["checks"] == (True, "ok")
    assert rep["es_parametric"] > rep["var_variance_covariance"]["var"]
    assert set(rep["sector_allocation"]) == {"forex", "commodities", "equity"}


def _manager_books(seed: int, n_books: int) -> None:
    """check_portfolio_risk says ok exactly when enforce_limits leaves the book unchanged."""
    rng = np.random.default_rng(seed)
    m = PortfolioRiskManager(RiskConfig(), make_universe())
    m.set_returns_history(make_returns() * rng.uniform(0.3, 3.0))
    cov = torch.from_numpy(m.covariance())[None]
    symbols = m.symbols
    for _ in range(n_books):
        held = rng.random(len(symbols)) < 0.7
        notional = rng.normal(0.0, rng.uniform(0.05, 1.0), len(symbols)) * held * 100_000.0
        book = [Pos(s, float(v)) for s, v in zip(symbols, notional, strict=True) if v != 0.0]
        ok, reason = m.check_portfolio_risk(book, ACCOUNT)
        w = torch.from_numpy(notional / ACCOUNT.equity)[None]
        executed, _ = enforce_limits(w, cov, m.limits, m.var_inputs())
        assert ok == bool(torch.equal(executed, w)), (ok, reason, notional)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_manager_accepts_exactly_the_books_the_enforced_path_leaves_unchanged(seed: int) -> None:
    _manager_books(seed, 25)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_manager_and_enforced_path_agree_on_10k_books(seed: int) -> None:
    _manager_books(seed, 50)  # 200 examples x 50 books = 10,000 books
