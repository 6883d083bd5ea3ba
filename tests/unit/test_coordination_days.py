"""coordination_days: the hub's cross-specialist signals counted on the executed books."""

from __future__ import annotations

import numpy as np

from mtquant.evaluation.results import StrategyResult, coordination_days


def _result(weights: list[list[float]], rho: float, groups: list[str]) -> StrategyResult:
    t = len(weights)
    corr = np.tile(np.array([[1.0, rho, 0.0], [rho, 1.0, 0.0], [0.0, 0.0, 1.0]]), (t, 1, 1))
    return StrategyResult(
        name="s", dates=np.arange(t).astype("datetime64[D]"), returns=np.zeros(t),
        equity=np.full(t, 1e5), weights=np.array(weights), costs={}, initial_equity=1e5,
        symbols=["A", "B", "C"], sectors=["x", "y", "y"], correlation_matrices=corr,
        groups=groups,
    )  # fmt: skip


def test_opposite_and_same_direction_legs_of_two_specialists_are_counted_by_day() -> None:
    days = [[0.5, -0.5, 0.1], [0.5, 0.5, 0.0], [0.5, 0.0, 0.2], [0.3, -0.2, 0.0]]
    got = coordination_days(_result(days, 0.9, ["fx", "eq", "eq"]))
    assert got == {"hedge_opportunity": 2, "correlation_alert": 1}  # days 0, 3 | day 1


def test_legs_of_one_specialist_are_not_coordination_and_low_correlation_is_quiet() -> None:
    days = [[0.5, -0.5, 0.0], [0.5, 0.5, 0.0]]
    assert coordination_days(_result(days, 0.9, ["fx", "fx", "eq"])) == {
        "hedge_opportunity": 0, "correlation_alert": 0,
    }  # fmt: skip
    assert coordination_days(_result(days, 0.5, ["fx", "eq", "eq"])) == {
        "hedge_opportunity": 0, "correlation_alert": 0,
    }  # fmt: skip


def test_without_groups_nothing_is_counted() -> None:
    assert coordination_days(_result([[0.5, 0.5, 0.0]], 0.9, [])) is None
