"""The risk guard's rules by hand: the pre-trade gate and the circuit breaker."""

from __future__ import annotations

import math

import torch

from mtquant.config.risk import RiskConfig
from mtquant.risk_management.guard import (
    ALERTS,
    PRE_TRADE_REASONS,
    BreakerState,
    GuardRules,
    breaker_step,
    gate_orders,
    guard_book,
)
from mtquant.risk_management.limits import RiskLimits, enforce_limits

RULES = GuardRules.from_config(RiskConfig())  # position 1.5, gross 3, margin 0.5, band 10%
MARGIN = torch.tensor([0.05, 0.05, 0.10], dtype=torch.float64)
OPEN = torch.ones(1, 3, dtype=torch.bool)


def _w(*x: float) -> torch.Tensor:
    return torch.tensor([x], dtype=torch.float64)


def _codes(reasons: torch.Tensor) -> list[str]:
    return [PRE_TRADE_REASONS[k] for k in reasons[0].tolist()]


def test_orders_in_a_shut_market_are_refused_and_the_leg_keeps_its_weight() -> None:
    shut = torch.tensor([[True, False, True]])
    book, reasons = gate_orders(_w(0.2, 0.3, 0.0), _w(0.5, 0.0, 0.1), shut, MARGIN, RULES)
    assert _codes(reasons) == ["ok", "no_price", "ok"]
    assert book.tolist() == [[0.5, 0.3, 0.1]]


def test_a_leg_without_an_order_is_never_refused() -> None:
    shut = torch.zeros(1, 3, dtype=torch.bool)
    book, reasons = gate_orders(_w(0.2, 0.3, 0.1), _w(0.2, 0.3, 0.1 + 5e-7), shut, MARGIN, RULES)
    assert _codes(reasons) == ["ok"] * 3  # 5e-7 is below the order floor of 1e-6


def test_a_price_outside_the_band_is_refused() -> None:
    prices, last = _w(1.0, 112.0, 50.0), _w(1.0, 100.0, 50.0)
    _, reasons = gate_orders(_w(0, 0, 0), _w(0.1, 0.1, 0.1), OPEN, MARGIN, RULES, prices, last)
    assert _codes(reasons) == ["ok", "price_band", "ok"]


def test_orders_adding_to_a_position_or_a_book_beyond_the_limits_are_refused() -> None:
    _, reasons = gate_orders(_w(1.0, 0, 0), _w(1.6, 0.2, 0), OPEN, MARGIN, RULES)
    assert _codes(reasons) == ["position_size", "ok", "ok"]
    # a stuck 2.5 leg (shut market) and two orders adding 0.4 each: gross 3.3 > 3
    shut = torch.tensor([[False, True, True]])
    _, reasons = gate_orders(_w(-1.4, 0.2, 0.2), _w(-1.0, 0.6, 0.6), shut, MARGIN, RULES)
    assert _codes(reasons) == ["no_price", "ok", "ok"]  # 1.4 + 0.6 + 0.6 = 2.6 <= 3
    _, reasons = gate_orders(_w(-1.5, 1.0, 0.2), _w(-0.5, 1.4, 0.7), shut, MARGIN, RULES)
    assert _codes(reasons) == ["no_price", "leverage", "leverage"]  # 1.5 + 1.4 + 0.7 = 3.6
    tight = GuardRules.from_config(RiskConfig(max_margin_usage=0.05))
    _, reasons = gate_orders(_w(0, 0, 0), _w(0.2, 0.2, 0.3), OPEN, MARGIN, tight)
    assert _codes(reasons) == ["ok"] * 3  # 0.01 + 0.01 + 0.03 = 0.05: at the limit, not over
    _, reasons = gate_orders(_w(0, 0, 0), _w(0.2, 0.2, 0.31), OPEN, MARGIN, tight)
    assert _codes(reasons) == ["margin"] * 3


def test_reducing_orders_always_pass_even_from_a_book_beyond_the_limits() -> None:
    book, reasons = gate_orders(_w(2.0, 1.5, 0.5), _w(1.0, 1.5, 0.0), OPEN, MARGIN, RULES)
    assert _codes(reasons) == ["ok"] * 3 and book.tolist() == [[1.0, 1.5, 0.0]]


def _step(state: BreakerState, equity: float, spike: bool = False, rules: GuardRules = RULES):
    return breaker_step(
        state, torch.tensor([equity], dtype=torch.float64), torch.tensor([spike]), rules
    )


def test_breaker_trips_on_drawdown_and_its_response_lasts_the_cool_down() -> None:
    rules = GuardRules.from_config(RiskConfig(max_drawdown=0.10, breaker_cooldown_days=3))
    state = BreakerState.fresh(1)
    state, alert, on = _step(state, 100.0, rules=rules)
    assert ALERTS[int(alert)] == "none" and not bool(on)
    state, alert, on = _step(state, 120.0, rules=rules)  # new peak
    state, alert, on = _step(state, 107.0, rules=rules)  # drawdown 10.8% > 10%
    assert ALERTS[int(alert)] == "drawdown" and bool(on)
    seen = []
    for _ in range(3):
        state, alert, on = _step(state, 119.0, rules=rules)  # recovered: 0.8% drawdown
        seen.append((int(alert), bool(on)))
    assert seen == [(0, True), (0, True), (0, False)]  # 3 decisions in all, then off


def test_breaker_trips_after_a_streak_of_var_breaches_and_on_a_correlation_spike() -> None:
    rules = GuardRules.from_config(RiskConfig(breaker_var_streak=2))
    state = BreakerState.fresh(1)
    state, _, _ = _step(state, 100.0, rules=rules)
    state.last_var = torch.tensor([0.01], dtype=torch.float64)
    state, alert, _ = _step(state, 98.9, rules=rules)  # -1.1% < -1%: breach 1
    assert int(alert) == 0 and int(state.streak) == 1
    state.last_var = torch.tensor([0.01], dtype=torch.float64)
    state, alert, on = _step(state, 97.9, rules=rules)  # -1.01%: breach 2 -> trip
    assert ALERTS[int(alert)] == "var_streak" and bool(on) and int(state.streak) == 0
    fresh = BreakerState.fresh(1)
    _, alert, on = _step(fresh, 100.0, spike=True)
    assert ALERTS[int(alert)] == "correlation_spike" and bool(on)
    quiet = GuardRules.from_config(RiskConfig(breaker_on_correlation_spike=False))
    _, alert, on = _step(BreakerState.fresh(1), 100.0, spike=True, rules=quiet)
    assert int(alert) == 0 and not bool(on)


def test_guard_scales_by_the_breaker_and_records_the_executed_books_var() -> None:
    limits = RiskLimits(
        max_portfolio_var=0.05, confidence=0.95, max_correlation_exposure=0.7,
        max_sector_allocation=1.0, max_gross_leverage=3.0, max_position_weight=1.5,
        max_margin_usage=0.5, sector_index=torch.tensor([0, 1, 2]), margin_rate=MARGIN,
    )  # fmt: skip
    cov = torch.diag(torch.tensor([1e-4, 1e-4, 4e-4], dtype=torch.float64))[None]
    proposed = _w(0.5, -0.5, 0.25)
    flat = GuardRules.from_config(RiskConfig(breaker_response="flatten"))
    g = guard_book(
        proposed, cov, _w(0, 0, 0), torch.tensor([100.0], dtype=torch.float64), OPEN,
        torch.tensor([True]), BreakerState.fresh(1), limits, flat,
    )  # fmt: skip
    assert bool(g.breaker_on[0]) and g.executed.abs().sum() == 0 and g.executed_var.item() == 0
    g = guard_book(
        proposed, cov, _w(0, 0, 0), torch.tensor([100.0], dtype=torch.float64), OPEN,
        torch.tensor([True]), BreakerState.fresh(1), limits, RULES,
    )  # fmt: skip
    compliant, diag = enforce_limits(proposed, cov, limits)
    torch.testing.assert_close(g.executed, 0.5 * compliant)
    assert math.isclose(g.executed_var.item(), 0.5 * diag.executed_var.item(), rel_tol=1e-12)
    assert math.isclose(g.state.last_var.item(), g.executed_var.item())
