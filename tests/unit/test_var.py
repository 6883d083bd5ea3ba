"""VaR / ES library against hand-computed values and its conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mtquant.errors import DataError
from mtquant.risk_management.var import (
    check_covariance,
    expected_shortfall,
    historical_var,
    monte_carlo_var,
    parametric_var,
    portfolio_var_from_cov,
    var_confidence_interval,
    var_with_interval,
)

Z95 = 1.6448536269514722  # norm.ppf(0.95)
PHI_Z95 = 0.10313564037537139  # norm.pdf(Z95)
# two assets with zero means: var1 = 4e-4/3, var2 = 20e-4/3, cov12 = 8e-4/3 (ddof=1)
TWO = np.array([[0.01, 0.03], [-0.01, -0.01], [0.01, 0.01], [-0.01, -0.03]])
# 20 returns -0.010, -0.009, ..., 0.009 in scrambled order
TWENTY = np.array(
    [
        (k - 10) / 1000
        for k in (7, 0, 19, 3, 12, 5, 1, 16, 9, 14, 2, 18, 6, 11, 4, 17, 8, 13, 10, 15)
    ]
)


def test_single_asset_parametric_var_is_z_sigma() -> None:
    r = np.array([[0.01], [-0.01], [0.02], [-0.02]])
    assert parametric_var(r, np.array([1.0])) == pytest.approx(
        Z95 * math.sqrt(0.001 / 3), rel=1e-12
    )


def test_two_asset_parametric_var_by_hand() -> None:
    assert parametric_var(TWO, np.array([0.5, 0.5])) == pytest.approx(
        Z95 * math.sqrt(10e-4 / 3), rel=1e-12
    )
    # long 1, short 0.5: 4/3 + 0.25 * 20/3 - 8/3 = 1/3 (x 1e-4)
    assert parametric_var(TWO, np.array([1.0, -0.5])) == pytest.approx(
        Z95 * math.sqrt(1e-4 / 3), rel=1e-12
    )


def test_parametric_var_with_mean_subtracts_expected_return() -> None:
    r = np.array([[0.02], [0.0], [0.04], [-0.02]])  # mean 0.01, deviations +-0.01, +-0.03
    got = parametric_var(r, np.array([1.0]), mean=True)
    assert got == pytest.approx(Z95 * math.sqrt(20e-4 / 3) - 0.01, rel=1e-12)


def test_historical_var_is_linear_quantile_of_small_series() -> None:
    r = TWENTY[:, None]
    # h = 19 * 0.05 = 0.95 between -0.010 and -0.009
    assert historical_var(r, np.array([1.0])) == pytest.approx(0.00905, rel=1e-9)
    # 99 %: h = 0.19
    assert historical_var(r, np.array([1.0]), 0.99) == pytest.approx(0.00981, rel=1e-9)
    assert historical_var(r, np.array([2.0])) == pytest.approx(0.0181, rel=1e-9)


def test_expected_shortfall_closed_forms() -> None:
    r = np.array([[0.01], [-0.01], [0.02], [-0.02]])
    sigma = math.sqrt(0.001 / 3)
    es = expected_shortfall(r, np.array([1.0]))
    assert es == pytest.approx(sigma * PHI_Z95 / 0.05, rel=1e-12)
    h = TWENTY[:, None]
    # 95 %: q = -0.00905, tail {-0.010}; 90 %: q = -0.0081, tail {-0.010, -0.009}
    assert expected_shortfall(h, np.array([1.0]), method="historical") == pytest.approx(0.010)
    assert expected_shortfall(h, np.array([1.0]), 0.90, method="historical") == pytest.approx(
        0.0095
    )


def _normal_returns(t: int = 500, n: int = 3, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 0.01, (n, n))
    return rng.standard_normal((t, n)) @ a.T


def test_monte_carlo_var_within_its_standard_error_of_parametric() -> None:
    r = _normal_returns()
    w = np.array([0.5, -0.3, 0.8])
    param = parametric_var(r, w)
    mc, lo, hi = var_with_interval(r, w, method="monte_carlo", n_sims=20_000, generator=7)
    se = (hi - lo) / (2 * 1.959963984540054)
    assert se > 0
    assert abs(mc - param) < 3 * se
    assert monte_carlo_var(r, w, n_sims=20_000, generator=7) == mc  # same seed, same draw


def test_monte_carlo_survives_singular_covariance() -> None:
    r = _normal_returns(n=2)
    r = np.column_stack([r, r[:, 0], np.zeros(len(r))])  # duplicate column + zero variance
    w = np.array([0.2, 0.5, 0.3, 1.0])
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(np.cov(r, rowvar=False))
    param = parametric_var(r, w)
    mc, lo, hi = var_with_interval(r, w, method="monte_carlo", n_sims=20_000, generator=3)
    assert abs(mc - param) < 3 * (hi - lo) / (2 * 1.96)


def test_batched_weights_give_one_value_per_book_and_torch_matches_numpy() -> None:
    r = _normal_returns()
    w = np.array([[0.5, -0.3, 0.8], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    rt, wt = torch.from_numpy(r), torch.from_numpy(w)
    for fn in (parametric_var, historical_var):
        batch = fn(r, w)
        assert isinstance(batch, np.ndarray) and batch.shape == (3,)
        np.testing.assert_allclose(batch, [fn(r, row) for row in w], rtol=1e-12)
        t = fn(rt, wt)
        assert isinstance(t, torch.Tensor) and t.shape == (3,)
        np.testing.assert_allclose(t.numpy(), batch, rtol=1e-12)
    for method in ("parametric", "historical"):
        es = expected_shortfall(rt, wt, method=method)
        np.testing.assert_allclose(es.numpy(), expected_shortfall(r, w, method=method), rtol=1e-12)
    assert isinstance(parametric_var(r, w[0]), float)
    mc_t = monte_carlo_var(rt, wt[0], n_sims=20_000, generator=torch.Generator().manual_seed(0))
    assert abs(float(mc_t) - parametric_var(r, w[0])) < 0.05 * parametric_var(r, w[0])


def test_confidence_bounds_bracket_the_estimate() -> None:
    r = _normal_returns()
    w = np.array([0.5, -0.3, 0.8])
    for method in ("parametric", "historical", "monte_carlo"):
        v, lo, hi = var_with_interval(r, w, method=method)
        assert lo < v < hi
        assert var_confidence_interval(r, w, method=method) == (lo, hi)
    # parametric: half width = 1.96 * z sigma / sqrt(2 (T - 1))
    v, lo, hi = var_with_interval(r, w)
    assert (hi - lo) / 2 == pytest.approx(1.959963984540054 * v / math.sqrt(2 * 499), rel=1e-9)


def test_historical_bounds_are_order_statistics() -> None:
    v, lo, hi = var_with_interval(TWENTY[:, None], np.array([1.0]), method="historical")
    # Binomial(20, 0.05): ranks r = 1 (clipped), s = ppf(0.975) + 1 = 3 + 1 = 4
    assert hi == pytest.approx(0.010) and lo == pytest.approx(0.007)


def test_portfolio_var_from_cov_matches_parametric_var() -> None:
    r = _normal_returns()
    w = np.array([[0.5, -0.3, 0.8], [0.1, 0.2, 0.3]])
    cov = np.cov(r, rowvar=False, ddof=1)
    np.testing.assert_allclose(portfolio_var_from_cov(w, cov), parametric_var(r, w), rtol=1e-10)
    tb = portfolio_var_from_cov(torch.from_numpy(w), torch.from_numpy(np.stack([cov, cov])))
    np.testing.assert_allclose(tb.numpy(), parametric_var(r, w), rtol=1e-10)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1])
def test_confidence_outside_open_unit_interval_is_rejected(confidence: float) -> None:
    with pytest.raises(DataError, match="confidence"):
        parametric_var(TWO, np.array([0.5, 0.5]), confidence)


def test_bad_returns_and_weights_are_rejected() -> None:
    bad = TWO.copy()
    bad[2, 1] = np.nan
    with pytest.raises(DataError, match="row 2"):
        historical_var(bad, np.array([0.5, 0.5]))
    with pytest.raises(DataError, match="row 2"):
        parametric_var(torch.from_numpy(bad), torch.tensor([0.5, 0.5]))
    with pytest.raises(DataError, match="at least 2"):
        parametric_var(TWO[:1], np.array([0.5, 0.5]))
    with pytest.raises(DataError, match="N = 2"):
        parametric_var(TWO, np.array([0.5, 0.5, 0.1]))
    with pytest.raises(DataError, match="method"):
        expected_shortfall(TWO, np.array([0.5, 0.5]), method="garch")  # type: ignore[arg-type]


def test_non_psd_or_asymmetric_covariance_is_rejected() -> None:
    with pytest.raises(DataError, match="positive semi-definite"):
        portfolio_var_from_cov(np.array([1.0, 1.0]), np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(DataError, match="symmetric"):
        check_covariance(np.array([[1.0, 0.5], [0.1, 1.0]]))
    check_covariance(np.array([[1.0, 1.0], [1.0, 1.0]]))  # singular PSD is fine
