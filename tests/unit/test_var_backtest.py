"""VaR backtests on small hand-made hit sequences, with the likelihood ratios written out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtquant.errors import DataError
from mtquant.evaluation import var_backtest as vb


def chi2_1_sf(x: float) -> float:
    return math.erfc(math.sqrt(x / 2.0))


def chi2_2_sf(x: float) -> float:
    return math.exp(-x / 2.0)


def test_breach_is_a_loss_strictly_beyond_var():
    hits = vb.var_breaches([-0.02, -0.01, -0.03, 0.01], [0.02, 0.02, 0.02, 0.02])
    assert hits.tolist() == [False, False, True, False]  # a loss equal to VaR is no breach


def test_var_breaches_rejects_nan_or_negative_forecast():
    with pytest.raises(DataError, match="position 1"):
        vb.var_breaches([0.0, 0.0], [0.02, float("nan")])
    with pytest.raises(DataError, match="position 0"):
        vb.var_breaches([0.0, 0.0], [-0.02, 0.02])
    with pytest.raises(DataError, match="does not match"):
        vb.var_breaches([0.0, 0.0], [0.02])


def test_kupiec_matches_hand_formula():
    hits = np.zeros(20, bool)
    hits[[4, 11]] = True  # x = 2 of n = 20, p = 0.05, x/n = 0.1
    lr = -2 * (18 * math.log(0.95) + 2 * math.log(0.05) - 18 * math.log(0.9) - 2 * math.log(0.1))
    stat, p = vb.kupiec_pof(hits, 0.95)
    assert stat == pytest.approx(lr, rel=1e-12)
    assert p == pytest.approx(chi2_1_sf(lr), rel=1e-9)


def test_kupiec_limits_with_no_or_only_breaches():
    stat, p = vb.kupiec_pof(np.zeros(10, bool), 0.95)
    assert stat == pytest.approx(-2 * 10 * math.log(0.95), rel=1e-12)
    assert p == pytest.approx(chi2_1_sf(stat), rel=1e-9)
    stat, _ = vb.kupiec_pof(np.ones(4, bool), 0.95)
    assert stat == pytest.approx(-2 * 4 * math.log(0.05), rel=1e-12)


def test_kupiec_is_zero_at_exact_expected_rate():
    hits = np.zeros(20, bool)
    hits[7] = True  # 1 / 20 = 0.05
    stat, p = vb.kupiec_pof(hits, 0.95)
    assert stat == 0.0 and p == 1.0


def test_independence_matches_hand_formula_on_clustered_hits():
    hits = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 0], bool)
    assert vb.transition_counts(hits) == (5, 1, 1, 2)
    markov = 5 * math.log(5 / 6) + math.log(1 / 6) + math.log(1 / 3) + 2 * math.log(2 / 3)
    iid = 6 * math.log(2 / 3) + 3 * math.log(1 / 3)
    lr = -2 * (iid - markov)
    stat, p = vb.christoffersen_independence(hits)
    assert stat == pytest.approx(lr, rel=1e-12)
    assert p == pytest.approx(chi2_1_sf(lr), rel=1e-9)


def test_independence_is_zero_when_transition_rates_agree():
    hits = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0], bool)  # pi01 = pi11 = pi = 1/3
    stat, p = vb.christoffersen_independence(hits)
    assert stat == 0.0 and p == 1.0


@pytest.mark.parametrize("hits", [[0] * 8, [1] * 8, [0, 0, 0, 1], [1, 0, 0, 0]])
def test_independence_is_finite_when_a_state_is_never_left(hits):
    stat, p = vb.christoffersen_independence(np.array(hits, bool))
    assert math.isfinite(stat) and math.isfinite(p)
    assert stat == 0.0  # with one visited state the Markov and iid likelihoods coincide


def test_conditional_coverage_is_sum_with_two_degrees_of_freedom():
    hits = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 0], bool)
    pof, _ = vb.kupiec_pof(hits, 0.95)
    ind, _ = vb.christoffersen_independence(hits)
    stat, p = vb.christoffersen_conditional_coverage(hits, 0.95)
    assert stat == pytest.approx(pof + ind, rel=1e-12)
    assert p == pytest.approx(chi2_2_sf(pof + ind), rel=1e-9)


def test_var_backtest_summary_counts_breaches():
    r = np.array([-0.03, 0.01, -0.01, -0.05])
    out = vb.var_backtest(r, np.full(4, 0.02), 0.95)
    assert out["days"] == 4 and out["breaches"] == 2 and out["breach_rate"] == 0.5
    assert out["expected_rate"] == pytest.approx(0.05)
    assert all(v is None or math.isfinite(v) for v in out.values())


def test_bad_coverage_and_empty_hits_are_rejected():
    with pytest.raises(DataError, match="coverage"):
        vb.kupiec_pof([True, False], 1.0)
    with pytest.raises(DataError, match="non-empty"):
        vb.kupiec_pof([], 0.95)
    with pytest.raises(DataError, match="at least 2"):
        vb.christoffersen_independence([True])


def _scipy_pvalues(hits: np.ndarray, p: float) -> tuple[float, float, float]:
    """Kupiec, independence and conditional-coverage p-values straight from scipy.stats."""
    from scipy import stats

    n, x = hits.size, int(hits.sum())
    lr_pof = -2 * (stats.binom.logpmf(x, n, p) - stats.binom.logpmf(x, n, x / n))
    prev, cur = hits[:-1], hits[1:]
    n00, n01 = int(np.sum(~prev & ~cur)), int(np.sum(~prev & cur))
    n10, n11 = int(np.sum(prev & ~cur)), int(np.sum(prev & cur))
    p01, p11, pi = n01 / (n00 + n01), n11 / (n10 + n11), (n01 + n11) / (n - 1)
    markov = (
        stats.bernoulli.logpmf(cur[~prev], p01).sum() + stats.bernoulli.logpmf(cur[prev], p11).sum()
    )
    lr_ind = -2 * (stats.bernoulli.logpmf(cur, pi).sum() - markov)
    return (
        float(stats.chi2.sf(lr_pof, 1)),
        float(stats.chi2.sf(lr_ind, 1)),
        float(stats.chi2.sf(lr_pof + lr_ind, 2)),
    )


def test_breach_count_and_p_values_match_a_direct_scipy_computation():
    r = np.array([-0.030, 0.010, -0.025, -0.021, 0.000, -0.019, 0.020, -0.050, 0.004, -0.020,
                  0.015, -0.001, -0.022, 0.008, -0.010, 0.003])  # fmt: skip
    var = np.full(r.size, 0.02)
    # losses strictly beyond 2%: days 0, 2, 3, 7, 12 (day 9 loses exactly 2%: no breach)
    hits = vb.var_breaches(r, var)
    assert np.flatnonzero(hits).tolist() == [0, 2, 3, 7, 12]
    out = vb.var_backtest(r, var, 0.95)
    assert out["breaches"] == 5 and out["breach_rate"] == pytest.approx(5 / 16)
    kp, ip, ccp = _scipy_pvalues(hits, 0.05)
    assert out["kupiec_p"] == pytest.approx(kp, rel=1e-9)
    assert out["independence_p"] == pytest.approx(ip, rel=1e-9)
    assert out["conditional_coverage_p"] == pytest.approx(ccp, rel=1e-9)
    # at 99% the same breaches are further from the 1% expected: a smaller Kupiec p
    kp99, _, ccp99 = _scipy_pvalues(hits, 0.01)
    out99 = vb.var_backtest(r, var, 0.99)
    assert out99["expected_rate"] == pytest.approx(0.01)
    assert out99["kupiec_p"] == pytest.approx(kp99, rel=1e-9) and kp99 < kp
    assert out99["conditional_coverage_p"] == pytest.approx(ccp99, rel=1e-9)


def test_es_backtest_compares_breach_day_losses_with_forecast_es():
    r = np.array([-0.03, 0.01, -0.05, -0.01])
    var = np.full(4, 0.02)
    es = np.array([0.025, 0.03, 0.035, 0.03])
    out = vb.es_backtest(r, var, es)
    # breaches on days 0 and 2: mean loss (0.03 + 0.05) / 2 = 0.04, mean ES 0.03
    assert out["breach_days"] == 2
    assert out["mean_breach_loss"] == pytest.approx(0.04)
    assert out["mean_es_forecast"] == pytest.approx(0.03)
    assert out["loss_to_es_ratio"] == pytest.approx(4 / 3)


def test_es_backtest_without_breaches_has_no_means():
    out = vb.es_backtest([0.01, -0.01], [0.02, 0.02], [0.03, 0.03])
    assert out == {
        "breach_days": 0,
        "mean_breach_loss": None,
        "mean_es_forecast": None,
        "loss_to_es_ratio": None,
    }
    with pytest.raises(DataError, match="es_forecasts"):
        vb.es_backtest([0.01, -0.01], [0.02, 0.02], [0.03, -0.03])
