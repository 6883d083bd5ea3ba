"""The limits with every VaR model, the ES limit and the size-weighted correlation rule.

Invariants over random books (hypothesis): every limit holds after ``enforce_limits`` under the
configured model (VaR and ES of the executed book by the model, at most the limit), the
size-weighted correlation exposure of the executed book is at most its limit, signs never flip,
legs only shrink, and a compliant book passes unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from risk_fixtures import make_limits

from mtquant.errors import ConfigError
from mtquant.risk_management.correlation_exposure import (
    correlation_from_covariance,
    weighted_correlation_exposure,
)
from mtquant.risk_management.limits import RiskLimits, book_tail, enforce_limits
from mtquant.risk_management.var_models import VAR_METHODS, VarInputs


def random_case(seed: int, batch: int) -> tuple[torch.Tensor, torch.Tensor, RiskLimits, VarInputs]:
    """Books with zeros, scenario returns (their sample covariance is the layer's covariance),
    random limits, model, ES limit and correlation rule."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    h = int(rng.integers(30, 120))
    factor = rng.normal(0.0, 0.01, (h, 1))
    loads = rng.uniform(-1.0, 1.0, (1, n))
    scen = factor * loads + rng.normal(0.0, 1.0, (h, n)) * rng.uniform(1e-3, 2e-2, n)
    scen[:, rng.random(n) < 0.1] = 0.0  # zero-variance legs
    scen += rng.standard_t(3, (h, n)) * 1e-3 * (rng.random() < 0.5)  # fat tails at times
    cov = np.cov(scen, rowvar=False, ddof=1).reshape(n, n)
    w = rng.normal(0.0, 1.0, (batch, n)) * rng.uniform(0.01, 5.0, (batch, 1))
    w[rng.random((batch, n)) < 0.25] = 0.0
    method = str(rng.choice(VAR_METHODS))
    lim = RiskLimits(
        max_portfolio_var=float(rng.uniform(1e-3, 0.1)),
        confidence=float(rng.choice([0.9, 0.95, 0.975])),
        max_correlation_exposure=float(rng.uniform(0.0, 1.0)),
        max_sector_allocation=float(rng.uniform(0.1, 1.0)),
        max_gross_leverage=float(rng.uniform(0.5, 5.0)),
        max_position_weight=float(rng.uniform(0.1, 3.0)),
        max_margin_usage=float(rng.uniform(0.01, 1.0)),
        sector_index=torch.from_numpy(rng.integers(0, 3, n)),
        margin_rate=torch.from_numpy(rng.uniform(0.01, 0.2, n)),
        var_method=method,
        max_portfolio_es=float(rng.uniform(1e-3, 0.12)) if rng.random() < 0.5 else None,
        correlation_rule=str(rng.choice(["pairwise", "weighted"])),
    )
    covs = torch.from_numpy(cov).expand(batch, n, n)
    scenarios = torch.from_numpy(scen.T.copy()).expand(batch, n, h)
    vol = torch.from_numpy(rng.uniform(0.5, 2.0, (batch, n)))  # the filtered model's scale
    scale = vol if method == "fhs" else None
    inputs = (
        VarInputs(covs, None)
        if lim.var_model.uses_covariance
        else VarInputs(None, scenarios, scale)
    )
    return torch.from_numpy(w), covs, lim, inputs


def check_case(seed: int, batch: int) -> None:
    w, cov, lim, inputs = random_case(seed, batch)
    model_inputs = None if lim.var_method == "parametric" else inputs
    out, d = enforce_limits(w, cov, lim, model_inputs)
    o, wn = out.numpy(), w.numpy()
    tail = book_tail(out, cov, lim, model_inputs)
    assert (tail.var.numpy() <= lim.max_portfolio_var * (1 + 1e-9) + 1e-15).all()
    if lim.max_portfolio_es is not None:
        assert (tail.es.numpy() <= lim.max_portfolio_es * (1 + 1e-9) + 1e-15).all()
    torch.testing.assert_close(d.executed_var, tail.var, rtol=1e-9, atol=1e-15)
    torch.testing.assert_close(d.executed_es, tail.es, rtol=1e-9, atol=1e-15)
    rho = correlation_from_covariance(cov.numpy())
    if lim.correlation_rule == "weighted":
        exposure = weighted_correlation_exposure(o, rho)
        assert (exposure <= lim.max_correlation_exposure + 1e-9).all(), exposure.max()
        np.testing.assert_allclose(d.correlation_exposure_after.numpy(), exposure, atol=1e-9)
    sectors = lim.sector_index.numpy()
    gross = np.abs(o)
    for k in range(3):
        assert (gross[:, sectors == k].sum(1) <= lim.sector_cap * (1 + 1e-9)).all()
    assert (gross.sum(1) <= lim.max_gross_leverage * (1 + 1e-9)).all()
    assert (gross.max(1, initial=0.0) <= lim.max_position_weight * (1 + 1e-12)).all()
    assert (gross @ lim.margin_rate.numpy() <= lim.max_margin_usage * (1 + 1e-9)).all()
    assert (o * wn >= 0).all() and (gross <= np.abs(wn) * (1 + 1e-12)).all()
    assert ((d.binding.numpy() == 0) == (o == wn).all(1)).all()
    compliant = out * 0.5  # every rule is scale-invariant or shrinks with the book
    again, d2 = enforce_limits(compliant, cov, lim, model_inputs)
    assert torch.equal(again, compliant) and (d2.binding == 0).all()


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 16))
def test_every_model_and_rule_keeps_every_limit(seed: int, batch: int) -> None:
    check_case(seed, batch)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_model_and_rule_keeps_every_limit_on_10k_books(seed: int) -> None:
    check_case(seed, 64)  # 200 examples x 64 books = 12,800 books


def corr_cov(rho: list[list[float]], sd: float = 0.01) -> torch.Tensor:
    return torch.tensor(rho, dtype=torch.float64) * sd * sd


RHO3 = [[1.0, 0.95, 0.1], [0.95, 1.0, 0.1], [0.1, 0.1, 1.0]]


def test_weighted_rule_scales_the_correlated_legs_instead_of_dropping_one() -> None:
    """Two equity indices at 0.95 and gold: the pair is scaled down until the size-weighted
    exposure is 0.5; the pairwise rule drops the smaller index."""
    w = torch.tensor([[0.6, 0.5, 0.2]], dtype=torch.float64)
    weighted = make_limits(3, max_correlation_exposure=0.5, correlation_rule="weighted")
    out, d = enforce_limits(w, corr_cov(RHO3), weighted)
    assert (out > 0).all() and out[0, 2] == 0.2 and out[0, 0] < 0.6 and out[0, 1] < 0.5
    assert out[0, 0] / out[0, 1] == pytest.approx(0.6 / 0.5)  # the pair keeps its proportions
    rho = np.array(RHO3)
    assert weighted_correlation_exposure(out.numpy(), rho)[0] == pytest.approx(0.5, abs=1e-12)
    assert d.binding.item() == 1 and d.correlation_exposure_before.item() > 0.5
    pairwise, _ = enforce_limits(w, corr_cov(RHO3), make_limits(3, max_correlation_exposure=0.5))
    assert pairwise.tolist() == [[0.6, 0.0, 0.2]]


def test_weighted_rule_on_a_lone_pair_keeps_the_larger_leg() -> None:
    w = torch.tensor([[0.6, 0.5, 0.0]], dtype=torch.float64)
    lim = make_limits(3, max_correlation_exposure=0.7, correlation_rule="weighted")
    out, _ = enforce_limits(w, corr_cov(RHO3), lim)
    assert out.tolist() == [[0.6, 0.0, 0.0]]


def test_a_hedged_book_is_left_alone_by_the_weighted_rule() -> None:
    w = torch.tensor([[0.6, -0.5, 0.2]], dtype=torch.float64)
    lim = make_limits(3, max_correlation_exposure=0.3, correlation_rule="weighted")
    out, d = enforce_limits(w, corr_cov(RHO3), lim)
    assert torch.equal(out, w) and d.binding.item() == 0


def test_es_limit_binds_in_the_var_layer() -> None:
    w = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    lim = make_limits(3, max_portfolio_es=0.01)
    out, d = enforce_limits(w, corr_cov(RHO3), lim)
    assert d.binding.item() == 6 and d.executed_es.item() == pytest.approx(0.01)
    assert d.executed_var.item() < 0.01  # ES > VaR at the same confidence


def test_compiled_core_refuses_what_it_does_not_compile() -> None:
    with pytest.raises(ConfigError, match="risk.compile"):
        make_limits(3, compiled=True, var_method="fhs")
    with pytest.raises(ConfigError, match="correlation_rule"):
        make_limits(3, correlation_rule="largest")
