"""Each enforced VaR model equals an independent numpy/scipy reference, and is homogeneous."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from mtquant.errors import ConfigError, DataError
from mtquant.features.risk_inputs import ewma_cov, ewma_vol
from mtquant.risk_management.var_models import (
    JB_CRITICAL,
    VAR_METHODS,
    VarInputs,
    VarModel,
    VarTape,
    ewma_covariance,
    inputs_from_history,
)

RNG = np.random.default_rng(7)
H, N = 120, 3
NORMAL = RNG.normal(0.0, 0.01, (H, N))
SKEWED = np.column_stack(  # fat left tail: JB rejects normality
    [RNG.normal(0.0, 0.01, H) - 0.04 * (RNG.random(H) < 0.06), RNG.normal(0.0, 0.008, (H, 2))]
)
BOOKS = np.array([[0.5, -0.3, 0.2], [1.0, 0.0, 0.0], [0.2, 0.4, 0.4]])


def tail(method: str, scen: np.ndarray, books: np.ndarray = BOOKS, conf: float = 0.95):
    """The model on ``books [B, N]`` sharing one scenario window."""
    b = torch.tensor(books)[None]
    s = torch.tensor(scen.T).expand(books.shape[0], *scen.T.shape)  # [B, N, H]
    out = VarModel(method, conf).tail(b, VarInputs(None, s))
    return tuple(x[0].numpy() for x in out)


def test_covariance_models_are_z_sigma_and_normal_es() -> None:
    cov = np.cov(NORMAL, rowvar=False, ddof=1)
    model = VarModel("parametric", 0.95)
    var, es, var99 = model.tail(torch.tensor(BOOKS)[None], VarInputs(torch.tensor(cov), None))
    sigma = np.sqrt(np.einsum("bi,ij,bj->b", BOOKS, cov, BOOKS))
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(var[0].numpy(), z * sigma, rtol=1e-12)
    np.testing.assert_allclose(es[0].numpy(), sigma * stats.norm.pdf(z) / 0.05, rtol=1e-12)
    np.testing.assert_allclose(var99[0].numpy(), stats.norm.ppf(0.99) * sigma, rtol=1e-12)


def test_historical_is_the_linear_quantile_and_the_tail_mean() -> None:
    var, es, var99 = tail("historical", SKEWED)
    for k, w in enumerate(BOOKS):
        p = SKEWED @ w
        q = np.quantile(p, 0.05)
        assert var[k] == pytest.approx(-q, rel=1e-12)
        assert es[k] == pytest.approx(-p[p <= q].mean(), rel=1e-12)
        assert var99[k] == pytest.approx(-np.quantile(p, 0.01), rel=1e-12)


def test_cornish_fisher_matches_scipy_moments_and_the_integrated_tail() -> None:
    var, es, _ = tail("cornish_fisher", SKEWED)
    for k, w in enumerate(BOOKS):
        p = SKEWED @ w
        s, ex = stats.skew(p), stats.kurtosis(p)
        sigma = p.std(ddof=1)

        def q(u: float, s: float = s, ex: float = ex) -> float:
            z = stats.norm.ppf(u)
            return (
                z + (z**2 - 1) * s / 6 + (z**3 - 3 * z) * ex / 24 - (2 * z**3 - 5 * z) * s**2 / 36
            )

        assert var[k] == pytest.approx(-sigma * q(0.05), rel=1e-10)
        integral, _ = integrate.quad(q, 0.0, 0.05, limit=200)
        assert es[k] == pytest.approx(-sigma * integral / 0.05, rel=1e-6)


def test_auto_takes_historical_when_jarque_bera_rejects_else_parametric() -> None:
    for scen in (NORMAL, SKEWED):
        var, _, _ = tail("auto", scen)
        for k, w in enumerate(BOOKS):
            p = scen @ w
            jb = stats.jarque_bera(p).statistic
            want = (
                -np.quantile(p, 0.05) if jb > JB_CRITICAL else stats.norm.ppf(0.95) * p.std(ddof=1)
            )
            assert var[k] == pytest.approx(want, rel=1e-10)
    assert stats.jarque_bera(SKEWED @ BOOKS[1]).statistic > JB_CRITICAL  # both branches are hit
    assert stats.jarque_bera(NORMAL @ BOOKS[1]).statistic < JB_CRITICAL


@pytest.mark.parametrize("method", VAR_METHODS)
def test_every_model_is_homogeneous_of_degree_one(method: str) -> None:
    model = VarModel(method, 0.95)
    w = torch.tensor(BOOKS)
    scen = torch.tensor(SKEWED.T).expand(3, N, H)
    cov = torch.tensor(np.cov(SKEWED, rowvar=False)).expand(3, N, N)
    inputs = VarInputs(
        cov if model.uses_covariance else None, None if model.uses_covariance else scen
    )
    base = model.tail(w[None], inputs)
    scaled = model.tail(0.37 * w[None], inputs)
    for a, b in zip(base, scaled, strict=True):
        torch.testing.assert_close(b, 0.37 * a, rtol=1e-12, atol=1e-15)


def test_tape_gathers_the_window_and_filters_by_volatility() -> None:
    t_len = 300
    returns = torch.tensor(RNG.normal(0.0, 0.01, (t_len, N)))
    returns[0] = 0.0
    vol = ewma_vol(returns)
    cov = torch.zeros(t_len, N, N)
    tape = VarTape(VarModel("fhs"), 50, returns, vol, cov, ewma_cov(returns, vol))
    rows = torch.tensor([120, 299])
    fhs = tape.inputs(rows)
    assert fhs.scenarios is not None and fhs.scale is not None
    assert fhs.scenarios.shape == (2, N, 50)
    r, v = returns.numpy(), vol.double().numpy()
    for b, t in enumerate(rows.tolist()):  # filtered scenarios: r_s vol_t / vol_(s-1)
        want = np.stack([r[s] * v[t] / v[s - 1] for s in range(t - 49, t + 1)])
        got = fhs.scenarios[b].T.numpy() * fhs.scale[b].numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6)
    hist = VarTape(VarModel("historical"), 50, returns, vol, cov, cov).inputs(rows)
    assert hist.scenarios is not None and hist.scale is None
    assert torch.equal(hist.scenarios[1], returns[250:300].T)
    with pytest.raises(ConfigError, match="risk.var_window=50"):
        tape.check_rows(30)


def test_ewma_covariance_of_a_window_is_the_features_last_row() -> None:
    returns = torch.tensor(RNG.normal(0.0, 0.01, (80, N)))
    returns[0] = 0.0
    full = ewma_cov(returns, ewma_vol(returns))
    np.testing.assert_allclose(ewma_covariance(returns[1:]).numpy(), full[-1].numpy(), rtol=1e-5)


def test_history_inputs_per_method() -> None:
    r = torch.tensor(SKEWED)
    par = inputs_from_history(VarModel("parametric"), r)
    assert par.cov is not None and torch.allclose(par.cov[0], torch.tensor(np.cov(SKEWED.T)))
    assert inputs_from_history(VarModel("historical"), r).scenarios is not None
    fhs = inputs_from_history(VarModel("fhs"), r)
    assert fhs.scenarios is not None and fhs.scenarios.shape == (1, N, H - 1)
    assert fhs.scale is not None and fhs.scale.shape == (1, N)


def test_models_refuse_missing_inputs_and_unknown_names() -> None:
    with pytest.raises(ConfigError, match="risk.var_method='garch'"):
        VarModel("garch")
    with pytest.raises(DataError, match="scenario"):
        VarModel("fhs").tail(torch.ones(1, 1, N), VarInputs(torch.eye(N), None))


def test_a_tail_that_is_a_gain_forecasts_no_loss() -> None:
    """Every scenario a gain (historical), or a Cornish-Fisher quantile past the expansion's
    monotone range (rare large gains): VaR, ES and 99% VaR are 0, never negative."""
    gains = np.abs(NORMAL) + 1e-4
    lottery = np.full((H, N), -1e-4)
    lottery[::40] = 0.2  # strong positive skew, fat right tail
    for method, scen in (("historical", gains), ("cornish_fisher", lottery)):
        var, es, var99 = tail(method, scen, books=np.abs(BOOKS))
        assert (var == 0).all() and (es >= 0).all() and (var99 >= 0).all(), method
    var, es, var99 = tail("auto", gains, books=np.abs(BOOKS))  # historical or parametric
    assert (var >= 0).all() and (es >= 0).all() and (var99 >= 0).all()
