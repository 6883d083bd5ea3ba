"""Hand-computed checks of mtquant.evaluation.metrics and its degenerate-input rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtquant.errors import DataError
from mtquant.evaluation import metrics as m

SMALL = [0.01, -0.02, 0.03, 0.00]  # mean 0.005, sum of squared deviations 0.0013


def test_sharpe_matches_hand_computation():
    expected = 0.005 / math.sqrt(0.0013 / 3) * math.sqrt(252)
    assert m.sharpe_ratio(SMALL) == pytest.approx(expected, rel=1e-12)


def test_sharpe_subtracts_per_period_risk_free_rate():
    expected = 0.004 / math.sqrt(0.0013 / 3) * math.sqrt(252)  # shift leaves the std unchanged
    assert m.sharpe_ratio(SMALL, rf=0.001) == pytest.approx(expected, rel=1e-12)


def test_sortino_downside_deviation_averages_over_all_days():
    # min(r, 0) = [0, -0.02, 0, 0] -> sqrt(0.0004 / 4) = 0.01
    assert m.downside_deviation(SMALL) == pytest.approx(0.01, rel=1e-12)
    assert m.sortino_ratio(SMALL) == pytest.approx(0.5 * math.sqrt(252), rel=1e-12)
    # rf = 0.001: min(r - rf, 0) = [0, -0.021, 0, -0.001]
    dd = math.sqrt((0.021**2 + 0.001**2) / 4)
    assert m.sortino_ratio(SMALL, rf=0.001) == pytest.approx(0.004 / dd * math.sqrt(252), rel=1e-12)


def test_max_drawdown_is_measured_from_initial_capital():
    # wealth 0.9, 0.945, 0.756, 0.9828, 0.93366: the peak is the initial 1.0, not 0.945
    assert m.max_drawdown([-0.10, 0.05, -0.20, 0.30, -0.05]) == pytest.approx(0.244, abs=1e-12)
    # wealth 1.1, 0.55, 0.66: peak 1.1 -> 1 - 0.55 / 1.1
    assert m.max_drawdown([0.10, -0.50, 0.20]) == pytest.approx(0.5, abs=1e-12)
    assert m.max_drawdown([0.01, 0.02]) == 0.0


def test_drawdown_series_is_positive_fraction_per_day():
    dd = m.drawdown_series([0.10, -0.50, 0.20])
    np.testing.assert_allclose(dd, [0.0, 0.5, 1 - 0.66 / 1.1], atol=1e-12)


def test_annual_return_compounds_and_annualises():
    assert m.annual_return([0.01] * 126) == pytest.approx(1.01**252 - 1, rel=1e-10)
    assert m.annual_return([0.10, -0.50, 0.20], periods=3) == pytest.approx(-0.34, abs=1e-12)


def test_calmar_is_cagr_over_max_drawdown():
    assert m.calmar_ratio([0.10, -0.50, 0.20], periods=3) == pytest.approx(-0.34 / 0.5, abs=1e-12)


def test_annual_volatility_uses_sample_std():
    assert m.annual_volatility(SMALL) == pytest.approx(math.sqrt(0.0013 / 3 * 252), rel=1e-12)


def test_hit_rate_ignores_flat_days():
    assert m.hit_rate([0.01, 0.0, -0.02, 0.03, 0.0]) == pytest.approx(2 / 3)


def test_turnover_counts_first_build_from_flat():
    w = [[0.5, -0.2], [0.3, -0.2], [0.3, 0.1]]  # traded 0.7, 0.2, 0.3
    assert m.turnover(w) == pytest.approx(0.4, abs=1e-12)
    assert m.turnover(w, initial_weights=[0.5, -0.2]) == pytest.approx(0.5 / 3, abs=1e-12)


def test_costs_paid_totals_each_component_and_fraction():
    costs = {
        "spread": [1.0, 2.0],
        "commission": [0.5, 0.5],
        "slippage": [0.0, 1.0],
        "swap": [-0.25, 0.25],
    }
    out = m.costs_paid(costs, initial_equity=1000.0)
    assert out["spread"] == {"usd": 3.0, "fraction_of_initial_equity": 0.003}
    assert out["swap"]["usd"] == 0.0
    assert out["total"]["usd"] == pytest.approx(5.0)
    assert out["total"]["fraction_of_initial_equity"] == pytest.approx(0.005)


def test_costs_paid_rejects_missing_component():
    with pytest.raises(DataError, match="missing \\['swap'\\]"):
        m.costs_paid({"spread": 1.0, "commission": 1.0, "slippage": 1.0}, 1000.0)


def test_exposure_by_sector_gross_and_net():
    w = [[0.5, -0.2, 0.1], [0.0, 0.4, -0.3]]
    gross = m.exposure_by_sector(w, ["fx", "fx", "equity"])
    assert list(gross) == ["fx", "equity"]
    np.testing.assert_allclose(gross["fx"], [0.7, 0.4])
    np.testing.assert_allclose(gross["equity"], [0.1, 0.3])
    net = m.exposure_by_sector(w, ["fx", "fx", "equity"], gross=False)
    np.testing.assert_allclose(net["fx"], [0.3, 0.4])
    np.testing.assert_allclose(net["equity"], [0.1, -0.3])


def test_sector_allocation_shares_of_gross_by_hand():
    from mtquant.evaluation.results import sector_allocation

    w = np.array([[0.5, -0.2, 0.1], [0.0, 0.4, -0.3], [0.0, 0.0, 0.0]])
    out = sector_allocation(w, ["fx", "fx", "equity"], cap=1.2)
    # day 0: fx 0.7, equity 0.1 of 0.8; day 1: fx 0.4, equity 0.3 of 0.7; day 2: flat, left out
    assert out["days_with_book"] == 2
    assert out["mean_share"]["fx"] == pytest.approx((0.7 / 0.8 + 0.4 / 0.7) / 2, rel=1e-12)
    assert out["mean_share"]["equity"] == pytest.approx((0.1 / 0.8 + 0.3 / 0.7) / 2, rel=1e-12)
    assert sum(out["mean_share"].values()) == pytest.approx(1.0, rel=1e-12)
    assert out["max_gross"] == pytest.approx({"fx": 0.7, "equity": 0.3})
    assert out["cap"] == 1.2 and out["within_cap"] is True
    assert sector_allocation(w, ["fx", "fx", "equity"], cap=0.5)["within_cap"] is False
    flat = sector_allocation(np.zeros((2, 3)), ["fx", "fx", "equity"])
    assert flat["days_with_book"] == 0 and flat["mean_share"] == {"fx": None, "equity": None}
    assert flat["within_cap"] is None  # no cap given


def test_constant_returns_give_documented_values():
    assert m.sharpe_ratio([0.0] * 10) == 0.0
    assert m.sharpe_ratio([0.001] * 10) is None  # undefined, never inf
    assert m.sortino_ratio([0.0] * 10) == 0.0
    assert m.sortino_ratio([0.001] * 10) is None
    assert m.calmar_ratio([0.001] * 10) is None
    assert m.calmar_ratio([0.0] * 10) == 0.0
    assert m.hit_rate([0.0] * 10) is None
    assert m.annual_volatility([0.001] * 10) == 0.0


def test_single_return_has_no_sharpe_or_volatility():
    assert m.sharpe_ratio([0.01]) is None
    assert m.annual_volatility([0.01]) is None


def test_total_loss_gives_full_drawdown_and_minus_one_cagr():
    assert m.max_drawdown([0.1, -1.0]) == 1.0
    assert m.annual_return([0.1, -1.0]) == -1.0


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([], "empty series"),
        ([0.01, 0.02, float("nan")], "position 2"),
        ([0.01, float("inf")], "position 1"),
        ([[0.01, 0.02]], "1-D"),
        ([0.01, -1.5], "below -100%"),
    ],
)
def test_bad_series_raise_data_error(bad, match):
    for fn in (m.sharpe_ratio, m.sortino_ratio, m.max_drawdown, m.annual_return, m.hit_rate):
        with pytest.raises(DataError, match=match):
            fn(bad)


def test_turnover_rejects_nan_weight_naming_day_and_instrument():
    with pytest.raises(DataError, match="day 1, instrument 0"):
        m.turnover([[0.1, 0.2], [float("nan"), 0.2]])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=1, max_size=40))
def test_metrics_are_never_nan_or_inf(returns):
    values = [
        m.sharpe_ratio(returns),
        m.sortino_ratio(returns),
        m.max_drawdown(returns),
        m.annual_return(returns),
        m.annual_volatility(returns),
        m.calmar_ratio(returns),
        m.hit_rate(returns),
    ]
    assert all(v is None or math.isfinite(v) for v in values)
