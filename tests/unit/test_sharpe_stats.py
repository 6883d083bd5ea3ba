"""PSR, DSR and the stationary bootstrap against hand computations and invariants."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from mtquant.errors import DataError
from mtquant.evaluation import sharpe_stats as ss
from mtquant.evaluation.metrics import sharpe_ratio

R = np.array([0.01, -0.02, 0.03, 0.00, 0.015, -0.005])
PHI = NormalDist()


def hand_psr(r: np.ndarray, benchmark: float) -> float:
    mean = r.mean()
    sr = mean / math.sqrt(((r - mean) ** 2).sum() / (r.size - 1))
    m2 = ((r - mean) ** 2).mean()
    g3 = ((r - mean) ** 3).mean() / m2**1.5
    g4 = ((r - mean) ** 4).mean() / m2**2  # plain kurtosis, 3 for a normal
    z = (sr - benchmark) * math.sqrt(r.size - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    return PHI.cdf(z)


def test_psr_matches_hand_computation():
    assert ss.probabilistic_sharpe_ratio(R) == pytest.approx(hand_psr(R, 0.0), rel=1e-10)
    assert ss.probabilistic_sharpe_ratio(R, 0.1) == pytest.approx(hand_psr(R, 0.1), rel=1e-10)


def test_psr_is_one_half_at_its_own_sharpe():
    sr = sharpe_ratio(R, periods=1)
    assert ss.probabilistic_sharpe_ratio(R, sr) == pytest.approx(0.5, abs=1e-12)


def test_expected_max_sharpe_matches_formula():
    g = 0.5772156649015329
    n = 10
    expected = 0.5 * ((1 - g) * PHI.inv_cdf(1 - 1 / n) + g * PHI.inv_cdf(1 - 1 / (n * math.e)))
    assert ss.expected_max_sharpe(0.25, n) == pytest.approx(expected, rel=1e-9)
    assert ss.expected_max_sharpe(0.25, 1) == 0.0


def test_dsr_falls_as_more_configurations_are_tried():
    rng = np.random.default_rng(3)
    r = rng.normal(0.001, 0.01, 250)
    dsr = [ss.deflated_sharpe_ratio(r, n) for n in (1, 2, 5, 20, 100, 1000)]
    assert dsr[0] == pytest.approx(ss.probabilistic_sharpe_ratio(r))
    assert all(a > b for a, b in zip(dsr, dsr[1:], strict=False))


def test_dsr_uses_given_trial_variance():
    dsr = ss.deflated_sharpe_ratio(R, 10, trial_sharpe_variance=0.04)
    assert dsr == pytest.approx(hand_psr(R, ss.expected_max_sharpe(0.04, 10)), rel=1e-10)


def test_psr_of_degenerate_series():
    assert ss.probabilistic_sharpe_ratio([0.001] * 20) is None  # Sharpe undefined
    assert ss.probabilistic_sharpe_ratio([0.0] * 20) == pytest.approx(0.5)
    with pytest.raises(DataError):
        ss.deflated_sharpe_ratio(R, 0)


def test_stationary_bootstrap_with_long_blocks_copies_runs():
    idx = ss.stationary_bootstrap_indices(7, 5, 1e12, np.random.default_rng(0))
    assert idx.shape == (5, 7)
    np.testing.assert_array_equal(idx, (idx[:, :1] + np.arange(7)) % 7)


def test_stationary_bootstrap_mean_block_length():
    idx = ss.stationary_bootstrap_indices(400, 200, 5.0, np.random.default_rng(1))
    continues = (idx[:, 1:] == (idx[:, :-1] + 1) % 400).mean()
    assert continues == pytest.approx(1 - 1 / 5 + 1 / (5 * 400), abs=0.01)  # new block w.p. 1/5
    assert idx.min() >= 0 and idx.max() < 400


def test_bootstrap_ci_is_seeded_and_contains_the_estimate():
    rng = np.random.default_rng(7)
    r = rng.normal(0.0008, 0.01, 126)
    a = ss.bootstrap_sharpe_ci(r, n_boot=500, seed=11)
    b = ss.bootstrap_sharpe_ci(r, n_boot=500, seed=11)
    c = ss.bootstrap_sharpe_ci(r, n_boot=500, seed=12)
    assert a == b and a != c
    assert a[0] < sharpe_ratio(r) < a[1]


def test_paired_difference_ci_of_identical_series_is_zero():
    r = np.random.default_rng(2).normal(0, 0.01, 60)
    assert ss.bootstrap_sharpe_difference_ci(r, r, n_boot=200) == (0.0, 0.0)
    lo, hi = ss.bootstrap_sharpe_difference_ci(r + 0.002, r, n_boot=200)
    assert lo > 0.0 and hi > lo


def test_bootstrap_ci_undefined_for_tiny_or_constant_series():
    assert ss.bootstrap_sharpe_ci([0.01, 0.02]) is None
    assert ss.bootstrap_sharpe_ci([0.001] * 50, n_boot=100) is None
    assert ss.bootstrap_sharpe_ci([0.0] * 50, n_boot=100) == (0.0, 0.0)


def test_block_length_follows_the_dependence_of_the_series():
    rng = np.random.default_rng(4)
    iid = rng.normal(0.0, 0.01, 500)
    ar = np.zeros(500)
    for t in range(1, 500):
        ar[t] = 0.6 * ar[t - 1] + iid[t]
    assert ss.stationary_block_length(iid) <= 2
    assert ss.stationary_block_length(ar) > ss.stationary_block_length(iid)
    assert ss.stationary_block_length(ar) <= math.ceil(math.sqrt(500))
    assert ss.stationary_block_length(np.column_stack([iid, ar])) == ss.stationary_block_length(ar)


def test_block_length_falls_back_to_cube_root_on_short_or_constant_series():
    assert ss.stationary_block_length(np.arange(8.0)) == 2  # 8 ** (1/3)
    assert ss.stationary_block_length(np.zeros(125)) == 5  # nothing to estimate from
