"""The compiled risk core (limits_core.fused_core) equals the eager enforce_limits.

The formulation itself is checked uncompiled (fast: fused_core runs eagerly in a few ms at
small B); the inductor-compiled path through ``RiskLimits(compiled=True)`` is checked once on a
batch where every layer binds (slow: the first compilation takes seconds to tens of seconds).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from risk_fixtures import make_limits

from mtquant.config import compose_config, to_object
from mtquant.risk_management.limits import (
    RiskDiagnostics,
    RiskLimits,
    diagnostics,
    enforce_limits,
    run_fused,
)
from mtquant.risk_management.limits_core import fused_core

REL = 1e-12


def books(
    seed: int, batch: int, n: int, shared: bool = False
) -> tuple[torch.Tensor, torch.Tensor, RiskLimits]:
    """Random books (zeros, ties, long/short), covariances of random rank (singular ones and
    zero-variance legs included), random limits tight enough that every layer binds on some."""
    rng = np.random.default_rng(seed)
    m = 1 if shared else batch
    rank = rng.integers(1, n + 1, (m, 1, 1))
    a = rng.normal(0.0, 1.0, (m, n, n)) * (np.arange(n)[None, None, :] < rank)
    a *= rng.uniform(2e-3, 3e-2, (m, n, 1))
    a[rng.random((m, n)) < 0.1] = 0.0  # zero-variance legs
    if n > 1:
        a[:, 1] += 0.95 * a[:, 0]  # a strongly correlated pair
    cov = a @ np.swapaxes(a, -1, -2)
    w = rng.normal(0.0, 1.0, (batch, n)) * rng.uniform(0.05, 3.0, (batch, 1))
    w[rng.random((batch, n)) < 0.2] = 0.0
    if n > 1:
        ties = rng.random(batch) < 0.2
        w[ties, 1] = -w[ties, 0]
    lim = RiskLimits(
        max_portfolio_var=0.03,
        confidence=0.95,
        max_correlation_exposure=0.6,
        max_sector_allocation=0.5,
        max_gross_leverage=3.0,
        max_position_weight=0.9,
        max_margin_usage=0.3,
        sector_index=torch.from_numpy(rng.permutation(np.arange(n) % 3)),
        margin_rate=torch.from_numpy(rng.uniform(0.02, 0.2, n)),
    )
    c = torch.from_numpy(cov[0] if shared else cov)
    return torch.from_numpy(w), c, lim


def assert_same(
    out: torch.Tensor, d: RiskDiagnostics, ref: torch.Tensor, e: RiskDiagnostics
) -> None:
    """Equal binding codes; every float within REL relative (plus a 1e-300 floor for zeros)."""
    assert torch.equal(d.binding, e.binding) and torch.equal(d.binding_flags, e.binding_flags)
    for got, want in (
        (out, ref),
        (d.proposed_var, e.proposed_var),
        (d.executed_var, e.executed_var),
        (d.scale, e.scale),
        (d.correlation_exposure_after, e.correlation_exposure_after),
        (d.correlation_exposure_before, e.correlation_exposure_before),
    ):
        assert got.shape == want.shape and got.dtype == want.dtype
        torch.testing.assert_close(got, want, rtol=REL, atol=1e-300)
    torch.testing.assert_close(d._before[0], e._before[0], rtol=REL, atol=1e-300)
    assert torch.equal(d._before[1], e._before[1])


def fused_uncompiled(
    w: torch.Tensor, cov: torch.Tensor, lim: RiskLimits
) -> tuple[torch.Tensor, RiskDiagnostics]:
    """fused_core run eagerly through enforce_limits' own compiled-branch wrapper."""
    out = run_fused(fused_core, w, cov, lim)
    return out.executed, diagnostics(out, lim.for_tensor(w))


@pytest.mark.parametrize(("seed", "n", "shared"), [(0, 8, False), (1, 2, False), (2, 5, True)])
def test_fused_formulation_equals_the_eager_core(seed: int, n: int, shared: bool) -> None:
    w, cov, lim = books(seed, 256, n, shared)
    ref, e = enforce_limits(w, cov, lim)
    out, d = fused_uncompiled(w, cov, lim)
    assert_same(out, d, ref, e)


def test_every_layer_binds_on_the_random_books() -> None:
    """The books above exercise all six layers (else the equality tests prove little)."""
    w, cov, lim = books(0, 256, 8)
    _, e = enforce_limits(w, cov, lim)
    seen = {k for k in range(6) if ((e.binding_flags >> k) & 1).any()}
    assert seen == set(range(6)), seen
    assert (e.binding == 0).any() and (e.binding == 6).any()


def test_fused_formulation_hand_case_drops_the_smaller_correlated_leg() -> None:
    rho = torch.tensor([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    lim = make_limits(3, max_correlation_exposure=0.7)
    out, d = fused_uncompiled(torch.tensor([[0.5, 0.8, 0.3]], dtype=torch.float64), rho * 1e-4, lim)
    assert out.tolist() == [[0.0, 0.8, 0.3]]
    assert d.binding.item() == 1 and d.binding_flags.item() == 1


def test_risk_config_compile_flag_reaches_the_limits() -> None:
    cfg = to_object(compose_config("train", ["risk.compile=true"]))
    assert cfg.risk.compile is True
    w, cov, lim = books(3, 4, 1)  # one instrument: the compiled flag falls back to eager
    lim1 = replace(lim, compiled=True)
    assert lim1.compiled and lim1.sectors == tuple(lim.sector_index.tolist())
    out, d = enforce_limits(w, cov, lim1)
    ref, e = enforce_limits(w, cov, lim)
    assert torch.equal(out, ref) and torch.equal(d.binding_flags, e.binding_flags)


@pytest.mark.slow
@pytest.mark.parametrize("shared", [False, True])
def test_compiled_core_equals_eager_on_random_books(shared: bool) -> None:
    w, cov, lim = books(7, 512, 8, shared)
    ref, e = enforce_limits(w, cov, lim)
    out, d = enforce_limits(w, cov, replace(lim, compiled=True))
    assert_same(out, d, ref, e)
    assert {int(k) for k in d.binding.unique()} >= {0, 6}
