"""enforce_limits: hand-computed cases and property tests over random books."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from risk_fixtures import make_limits
from scipy import stats

from mtquant.risk_management.limits import RiskLimits, correlation_exposure, enforce_limits

Z95 = 1.6448536269514722


def corr_cov(rho: np.ndarray, sd: float = 0.01) -> torch.Tensor:
    return torch.tensor(rho * sd * sd, dtype=torch.float64)


# ---------------------------------------------------------------------------- hand cases
def test_correlated_long_pair_drops_the_smaller_leg() -> None:
    rho = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    lim = make_limits(3, max_correlation_exposure=0.7)
    w = torch.tensor([[0.5, 0.8, 0.3]], dtype=torch.float64)
    out, d = enforce_limits(w, corr_cov(rho), lim)
    assert out.tolist() == [[0.0, 0.8, 0.3]]
    assert d.binding.item() == 1 and d.binding_flags.item() == 1
    assert d.correlation_exposure_before.item() == pytest.approx(0.9)
    assert d.correlation_exposure_after.item() == pytest.approx(0.0)


def test_effective_correlation_uses_the_signs_of_the_legs() -> None:
    lim = make_limits(2, max_correlation_exposure=0.7)
    pos, neg = np.array([[1, 0.9], [0.9, 1]]), np.array([[1, -0.9], [-0.9, 1]])
    w = torch.tensor([[0.5, -0.5]], dtype=torch.float64)
    hedge, d = enforce_limits(w, corr_cov(pos), lim)  # long/short of +0.9 is a hedge
    assert torch.equal(hedge, w) and d.binding.item() == 0
    assert d.correlation_exposure_before.item() == pytest.approx(-0.9)
    same, _ = enforce_limits(w, corr_cov(neg), lim)  # long/short of -0.9 doubles up
    assert same.tolist() == [[0.5, 0.0]]  # equal size: the later index goes


def test_sector_gross_is_scaled_to_its_share_of_the_leverage_budget() -> None:
    lim = make_limits(4, max_sector_allocation=0.4, max_gross_leverage=3.0)  # cap 1.2
    w = torch.tensor([[2.0, -1.0, 0.5, 0.1]], dtype=torch.float64)
    out, d = enforce_limits(w, corr_cov(np.eye(4)), lim)
    torch.testing.assert_close(out, torch.tensor([[0.8, -0.4, 0.5, 0.1]], dtype=torch.float64))
    assert d.binding.item() == 2
    assert d.scale.item() == pytest.approx(1.8 / 3.6)


def test_gross_position_and_margin_layers_in_order() -> None:
    w4 = torch.tensor([[1.5, 0.0, -1.5, 0.0]], dtype=torch.float64)  # sectors 0 and 1
    out, d = enforce_limits(w4, corr_cov(np.eye(4)), make_limits(4, max_gross_leverage=2.0))
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0, -1.0, 0.0]], dtype=torch.float64))
    assert d.binding.item() == 3
    cov = corr_cov(np.eye(2))
    out, d = enforce_limits(
        torch.tensor([[3.0, -1.0]], dtype=torch.float64),
        cov,
        make_limits(2, max_position_weight=2.0),
    )
    assert out.tolist() == [[2.0, -1.0]] and d.binding.item() == 4
    out, d = enforce_limits(
        torch.tensor([[3.0, -1.0]], dtype=torch.float64), cov, make_limits(2, max_margin_usage=0.02)
    )  # margin 0.04 -> 0.02
    torch.testing.assert_close(out, torch.tensor([[1.5, -0.5]], dtype=torch.float64))
    assert d.binding.item() == 5


def test_var_layer_scales_by_limit_over_var() -> None:
    cov = torch.tensor([[0.02**2]], dtype=torch.float64)
    lim = make_limits(1, max_portfolio_var=0.02)
    out, d = enforce_limits(torch.tensor([[1.0]], dtype=torch.float64), cov, lim)
    proposed = Z95 * 0.02
    assert d.proposed_var.item() == pytest.approx(proposed, rel=1e-12)
    assert out.item() == pytest.approx(0.02 / proposed, rel=1e-12)
    assert d.executed_var.item() == pytest.approx(0.02, rel=1e-12)
    assert d.binding.item() == 6 and d.binding_flags.item() == 32


def test_several_layers_set_several_flags_and_the_last_is_reported() -> None:
    rho = np.array([[1.0, 0.95], [0.95, 1.0]])
    lim = make_limits(
        2, max_correlation_exposure=0.5, max_position_weight=1.0, max_portfolio_var=0.001
    )
    out, d = enforce_limits(torch.tensor([[5.0, 3.0]], dtype=torch.float64), corr_cov(rho), lim)
    assert d.binding_flags.item() == 1 | 8 | 32 and d.binding.item() == 6
    assert out[0, 1].item() == 0.0 and 0 < out[0, 0].item() < 1.0


# ---------------------------------------------------------------------------- properties
def random_books(
    seed: int, batch: int, shared_cov: bool
) -> tuple[torch.Tensor, torch.Tensor, RiskLimits]:
    """Random books: weights with zeros and ties, covariances of random rank (singular ones
    included, some zero-variance legs), random limits and sectors."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    rank = int(rng.integers(1, n + 1))
    a = rng.normal(0.0, 1.0, (1 if shared_cov else batch, n, rank)) * rng.uniform(
        1e-3, 5e-2, (1 if shared_cov else batch, n, 1)
    )
    a[rng.random(a.shape[:2]) < 0.1] = 0.0  # zero-variance legs
    cov = a @ np.swapaxes(a, -1, -2)
    w = rng.normal(0.0, 1.0, (batch, n)) * rng.uniform(0.01, 5.0, (batch, 1))
    w[rng.random((batch, n)) < 0.25] = 0.0
    if n > 1:
        ties = rng.random(batch) < 0.2
        w[ties, 1] = -w[ties, 0]
    lim = RiskLimits(
        max_portfolio_var=float(rng.uniform(1e-3, 0.1)),
        confidence=float(rng.choice([0.9, 0.95, 0.975, 0.99])),
        max_correlation_exposure=float(rng.uniform(0.0, 1.0)),
        max_sector_allocation=float(rng.uniform(0.1, 1.0)),
        max_gross_leverage=float(rng.uniform(0.5, 5.0)),
        max_position_weight=float(rng.uniform(0.1, 3.0)),
        max_margin_usage=float(rng.uniform(0.01, 1.0)),
        sector_index=torch.from_numpy(rng.integers(0, 3, n)),
        margin_rate=torch.from_numpy(rng.uniform(0.01, 0.2, n)),
    )
    c = torch.from_numpy(cov[0] if shared_cov else cov)
    return torch.from_numpy(w), c, lim


def reference_violations(w: np.ndarray, cov: np.ndarray, lim: RiskLimits) -> dict[str, np.ndarray]:
    """How far each limit is exceeded (relative), computed independently in numpy."""
    cov = np.broadcast_to(cov, (w.shape[0], *cov.shape[-2:]))
    z = stats.norm.ppf(lim.confidence)
    var = z * np.sqrt(np.maximum(np.einsum("bi,bij,bj->b", w, cov, w), 0.0))
    sd = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0))
    denom = sd[:, :, None] * sd[:, None, :]
    rho = np.divide(cov, denom, out=np.zeros_like(cov), where=denom > 0)
    eff = np.sign(w)[:, :, None] * np.sign(w)[:, None, :] * rho
    held = np.abs(w) > 1e-12
    pairs = held[:, :, None] & held[:, None, :] & ~np.eye(w.shape[1], dtype=bool)
    corr = np.where(pairs, eff, -np.inf).max(axis=(1, 2))
    sectors = lim.sector_index.numpy()
    sector_gross = np.stack([np.abs(w[:, sectors == k]).sum(1) for k in range(3)], 1)
    return {
        "var": var / lim.max_portfolio_var - 1.0,
        "correlation": corr - lim.max_correlation_exposure,
        "sector": sector_gross.max(1) / (lim.max_sector_allocation * lim.max_gross_leverage) - 1,
        "gross": np.abs(w).sum(1) / lim.max_gross_leverage - 1.0,
        "position": np.abs(w).max(1) / lim.max_position_weight - 1.0,
        "margin": np.abs(w) @ lim.margin_rate.numpy() / lim.max_margin_usage - 1.0,
        "ref_var": var,
    }


def var_rounding(w: np.ndarray, cov: np.ndarray, z: float) -> np.ndarray:
    """Float64 rounding bound of ``z sqrt(w' S w)`` per book: the quadratic form is exact to
    ``~N^2 eps |w|' |S| |w|``, which near a singular covariance (cancellation) exceeds 1e-9 of
    the tiny result; elsewhere it is ~1e-14 relative and rtol=1e-9 decides."""
    cov = np.broadcast_to(cov, (w.shape[0], *cov.shape[-2:]))
    q = np.einsum("bi,bij,bj->b", w, cov, w)
    terms = np.einsum("bi,bij,bj->b", np.abs(w), np.abs(cov), np.abs(w))
    delta = w.shape[1] ** 2 * np.finfo(np.float64).eps * terms
    root = 2.0 * np.sqrt(np.maximum(q, delta))
    return z * np.divide(delta, root, out=np.zeros_like(delta), where=root > 0)


def check_books(seed: int, batch: int, shared_cov: bool) -> None:
    w, cov, lim = random_books(seed, batch, shared_cov)
    out, d = enforce_limits(w, cov, lim)
    o = out.numpy()
    v = reference_violations(o, cov.numpy(), lim)
    for key in ("var", "sector", "gross", "position", "margin"):
        assert (v[key] <= 1e-9).all(), (key, v[key].max())
    assert (v["correlation"] <= 1e-12).all(), v["correlation"].max()
    # never flips a sign, only shrinks
    assert (o * w.numpy() >= 0).all()
    assert (np.abs(o) <= np.abs(w.numpy())).all()
    # diagnostics agree with the reference (to 1e-9, or float64 rounding of an ill-conditioned w'Sw)
    c = cov.numpy()
    for book, got, ref in (
        (o, d.executed_var.numpy(), v["ref_var"]),
        (w.numpy(), d.proposed_var.numpy(), reference_violations(w.numpy(), c, lim)["ref_var"]),
    ):
        tol = 1e-9 * np.abs(ref) + var_rounding(book, c, lim.z) + 1e-15
        assert (np.abs(got - ref) <= tol).all(), (got, ref, tol)
    unchanged = (o == w.numpy()).all(1)
    assert ((d.binding.numpy() == 0) == unchanged).all()
    assert ((d.scale.numpy() > 0) | (np.abs(o).sum(1) == 0)).all() and (d.scale.numpy() <= 1).all()
    # a compliant book (the output shrunk by half) passes bit-identical
    compliant = out * 0.5
    again, d2 = enforce_limits(compliant, cov, lim)
    assert torch.equal(again, compliant) and (d2.binding == 0).all()


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 16), shared=st.booleans())
def test_transform_never_exceeds_var_limit(seed: int, batch: int, shared: bool) -> None:
    """Every limit holds after enforce_limits, signs never flip, compliant books pass as is."""
    check_books(seed, batch, shared)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shared=st.booleans())
def test_transform_never_exceeds_var_limit_on_10k_books(seed: int, shared: bool) -> None:
    check_books(seed, 64, shared)  # 200 examples x 64 books = 12,800 books


def test_float32_books_stay_within_float32_rounding_of_the_limits() -> None:
    w, cov, lim = random_books(123, 256, False)
    out, _ = enforce_limits(w.float(), cov.float(), lim)
    v = reference_violations(out.double().numpy(), cov.numpy(), lim)
    for key in ("var", "sector", "gross", "position", "margin"):
        assert (v[key] <= 1e-5).all(), key


def test_correlation_exposure_is_zero_with_fewer_than_two_legs() -> None:
    rho = torch.tensor([[1.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    w = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    assert correlation_exposure(w, rho).tolist() == pytest.approx([0.0, 0.0, 0.9])


def test_empty_book_passes_with_unit_scale() -> None:
    out, d = enforce_limits(
        torch.zeros(2, 3, dtype=torch.float64),
        corr_cov(np.eye(3)),
        make_limits(3, max_portfolio_var=0.01),
    )
    assert torch.equal(out, torch.zeros(2, 3, dtype=torch.float64))
    assert d.scale.tolist() == [1.0, 1.0] and math.isclose(d.proposed_var.sum().item(), 0.0)


def test_limits_are_converted_once_per_dtype_and_reused() -> None:
    lim = make_limits(3, max_position_weight=0.5)
    w32 = torch.tensor([[1.0, -2.0, 0.25]])
    assert lim.for_tensor(torch.zeros(1, dtype=torch.float64)) is lim
    v32 = lim.for_tensor(w32)
    assert v32 is lim.for_tensor(w32) and v32.margin_rate.dtype == torch.float32
    out, d = enforce_limits(w32, corr_cov(np.eye(3)).float(), lim)
    assert out.dtype == torch.float32 and out.tolist() == [[0.5, -0.5, 0.25]]
    assert d.binding.item() == 4 and d.binding_flags.item() == 8
