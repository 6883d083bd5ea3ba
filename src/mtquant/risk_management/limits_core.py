"""The compiled path of :func:`~mtquant.risk_management.limits.enforce_limits`.

:func:`fused_core` computes exactly what the eager leg-major core in ``limits.py`` computes (the
layers, their order and the binding codes are documented there), written for
``torch.compile``: it takes only tensors, python floats and a static tuple of sector indices,
returns a tuple of tensors, and spells every leg and pair out as its own ``[B]`` row. The
Python loops over legs and pairs run once, while dynamo traces; what inductor receives is a
graph of ``[B]``-wide elementwise ops that it fuses into one vectorised loop over the books,
every intermediate in registers. (Compiling the eager core as it is was measured slower than
eager: inductor recomputes its ``index_select`` pair gathers inside every consumer and cannot
vectorise the stride-64 reads of a book-major covariance: ~1.1x slower than eager at
B = 1024.) In eager mode this formulation is some 600 tiny ops, so it is only ever run compiled.

The leg-major copy of the inputs (36 covariance entries and N weights per book) is made by one
``torch.stack``, which inductor always materialises: the loop over books then reads contiguous
rows instead of gathering 64-strided entries (that gather disables its vectorisation).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import torch

HELD_EPS = 1e-12  # |w| above this counts as a held leg


class CoreLimits(NamedTuple):
    """The scalar limits as python floats (constants of one RiskLimits; compiled in)."""

    max_correlation_exposure: float
    sector_cap: float
    max_gross_leverage: float
    max_position_weight: float
    max_margin_usage: float
    max_portfolio_var: float
    z: float


class CoreOut(NamedTuple):
    """What the cores return; ``[B]`` unless stated."""

    executed: torch.Tensor  # [B, N] compliant book
    proposed_var: torch.Tensor
    executed_var: torch.Tensor
    scale: torch.Tensor  # executed gross / proposed gross (1 for an empty book)
    binding: torch.Tensor  # int64 last binding layer
    binding_flags: torch.Tensor  # int64 bit k-1 for every layer k that bound
    correlation_exposure_after: torch.Tensor
    eff: torch.Tensor  # [P, B] effective correlations of the proposed book (pairs i < j)
    held: torch.Tensor  # [N, B] 0/1 held legs of the proposed book


def _held(a: torch.Tensor) -> torch.Tensor:
    """1 where ``a = |w| > HELD_EPS``, else 0 (0/1 arithmetic, as in the eager core)."""
    return (a - HELD_EPS).sign().clamp(min=0.0)


def _maximum(rows: list[torch.Tensor]) -> torch.Tensor:
    out = rows[0]
    for r in rows[1:]:
        out = torch.maximum(out, r)
    return out


def _total(rows: list[torch.Tensor]) -> torch.Tensor:
    out = rows[0]
    for r in rows[1:]:
        out = out + r
    return out


def _quad_form(
    w: list[torch.Tensor], s: dict[int, torch.Tensor], n: int, pairs: list[tuple[int, int]]
) -> torch.Tensor:
    """``w' S w = sum_i S_ii w_i^2 + 2 sum_{i<j} S_ij w_i w_j`` per book ``[B]``."""
    diag = _total([w[i] * w[i] * s[i * n + i] for i in range(n)])
    off = _total([w[i] * w[j] * s[i * n + j] for i, j in pairs])
    return diag + 2.0 * off


def fused_core(
    weights: torch.Tensor,
    cov: torch.Tensor,
    sectors: tuple[int, ...],
    margin_rate: torch.Tensor,
    c: CoreLimits,
) -> CoreOut:
    """Compliant book and diagnostics for ``weights [B, N]`` and ``cov [B, N, N]`` (module doc).

    ``sectors`` is each leg's sector position (static: a new tuple compiles anew),
    ``margin_rate [N]`` in ``weights``' dtype. Needs ``N >= 2`` (the wrapper routes smaller
    books to the eager core).
    """
    n = weights.shape[1]
    dt = weights.dtype
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    upper = [i * n + j for i in range(n) for j in range(i, n)]  # S_ij, i <= j
    flat = cov.reshape(-1, n * n)
    cols = [flat[:, k].to(dt) for k in upper] + [weights[:, i] for i in range(n)]
    rows = torch.stack(cols).unbind(0)  # leg-major copy, materialised by the stack
    s = dict(zip(upper, rows, strict=False))
    w0 = list(rows[len(upper) :])
    a0 = [x.abs() for x in w0]
    sign0 = [torch.sign(x) for x in w0]
    held = [_held(x) for x in a0]

    # 1. correlation concentration: drop the smaller leg of every offending held pair
    inv_sd = [torch.nan_to_num(s[i * n + i].rsqrt(), nan=0.0, posinf=0.0) for i in range(n)]
    g = [sign0[i] * held[i] * inv_sd[i] for i in range(n)]
    eff = [g[i] * g[j] * s[i * n + j] for i, j in pairs]
    hit_rows: list[list[torch.Tensor]] = [[] for _ in range(n)]
    for (i, j), e in zip(pairs, eff, strict=True):
        over = (e - c.max_correlation_exposure).clamp(min=0.0)  # > 0: offending pair
        over_i = (a0[j] - a0[i]).sign().clamp(min=0.0) * over  # a tie drops the later leg j
        hit_rows[i].append(over_i)
        hit_rows[j].append(over - over_i)
    hits = [_total(h) for h in hit_rows]
    a = [(hits[i].neg().sign() + 1.0) * a0[i] for i in range(n)]

    # 2. per-sector gross notional
    ks = sorted(set(sectors))
    sector_scale = {
        k: (c.sector_cap / _total([a[i] for i in range(n) if sectors[i] == k])).clamp(max=1.0)
        for k in ks
    }
    a = [a[i] * sector_scale[sectors[i]] for i in range(n)]
    # 3. gross leverage
    gross_scale = (c.max_gross_leverage / _total(a)).clamp(max=1.0)
    a = [x * gross_scale for x in a]
    # 4. per-position magnitude
    top_abs = _maximum(a)
    a = [x.clamp(max=c.max_position_weight) for x in a]
    # 5. margin usage
    margin = _total([margin_rate[i] * a[i] for i in range(n)])
    margin_scale = (c.max_margin_usage / margin).clamp(max=1.0)
    a = [x * margin_scale for x in a]

    # 6. parametric VaR, homogeneous of degree 1 in a common scale
    w = [sign0[i] * a[i] for i in range(n)]
    var_pre = _quad_form(w, s, n, pairs).clamp(min=0.0).sqrt() * c.z
    var_proposed = _quad_form(w0, s, n, pairs).clamp(min=0.0).sqrt() * c.z
    var_scale = (c.max_portfolio_var / var_pre).clamp(max=1.0)
    abs_ex = [x * var_scale for x in a]

    # layer k bound (0/1 in dt): flags sum 2^(k-1), binding the largest such k
    bound = [
        (_total(hits) > 0.0).to(dt),
        (_maximum([-v for v in sector_scale.values()]) > -1.0).to(dt),  # min scale < 1
        (gross_scale < 1.0).to(dt),
        (top_abs > c.max_position_weight).to(dt),
        (margin_scale < 1.0).to(dt),
        (var_scale < 1.0).to(dt),
    ]
    flags = _total([b * float(2**k) for k, b in enumerate(bound)])
    binding = _maximum([b * float(k + 1) for k, b in enumerate(bound)])
    held_ex = [_held(x) for x in abs_ex]
    top = _maximum(
        [held_ex[i] * held_ex[j] * 3.0 - 3.0 + e for (i, j), e in zip(pairs, eff, strict=True)]
    )
    return CoreOut(
        executed=torch.stack([x * var_scale for x in w]).T,
        proposed_var=var_proposed,
        executed_var=var_pre * var_scale,
        scale=(_total(abs_ex) / _total(a0)).nan_to_num(nan=1.0),
        binding=binding.long(),
        binding_flags=flags.long(),
        correlation_exposure_after=top * (top > -1.5),
        eff=torch.stack(eff),
        held=torch.stack(held),
    )


CoreFn = Callable[[torch.Tensor, torch.Tensor, tuple[int, ...], torch.Tensor, CoreLimits], CoreOut]


@functools.cache
def compiled_core() -> CoreFn:
    """:func:`fused_core` compiled by inductor: one graph, static shapes and limits (a new
    batch size, dtype, covariance layout, sector tuple or limit value compiles once more: the
    floats of ``CoreLimits`` are compiled in), C++ wrapper (no Python per-kernel overhead).
    The first call per shape pays the compilation: ~25 s cold on 2 shared cores, ~3 s with
    the on-disk inductor cache warm (a second process)."""
    compiled: CoreFn = torch.compile(
        fused_core, fullgraph=True, dynamic=False, options={"cpp_wrapper": True}
    )
    return compiled
