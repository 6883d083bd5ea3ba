"""Risk limits and :func:`enforce_limits`, the one function that makes a book compliant.

Every path that executes target weights (the TorchRL transform, the hierarchical system's
``step()``, the baselines) calls :func:`enforce_limits`. Weights are signed notional / equity.

Order of the layers (each only shrinks magnitudes and never flips a sign, so a limit met by
an earlier layer stays met after the later ones; the VaR layer is last because VaR is not
monotone in each leg but is homogeneous of degree 1 in a common scale):

1. correlation concentration: the effective correlation of held legs i, j is
   ``sign(w_i) sign(w_j) rho_ij``; every held pair above ``max_correlation_exposure`` loses its
   smaller leg (ties: the later index), in one vectorised shot. Every offending pair loses a leg
   and correlations and signs of the others do not change, so no offending pair is left;
2. per-sector gross ``sum_{i in k} |w_i| <= max_sector_allocation * max_gross_leverage``
   (the sector's legs are scaled linearly);
3. gross leverage ``sum |w_i| <= max_gross_leverage`` (linear scale);
4. per-position ``|w_i| <= max_position_weight`` (magnitude clip);
5. margin ``sum |w_i| margin_rate_i <= max_margin_usage`` (linear scale);
6. parametric VaR ``z sqrt(w' S w) <= max_portfolio_var`` via
   ``scale = clamp(limit / VaR, max=1)``.

A compliant book passes through bit-identical (its scales are exactly 1.0, nothing is dropped
or clipped). Binding codes: ``binding`` is the last layer that changed the book (0 none,
1 correlation, 2 sector, 3 gross, 4 position, 5 margin, 6 VaR); ``binding_flags`` has bit
``k - 1`` set for every layer ``k`` that changed it.

Two cores compute this: the eager leg-major one here (the default) and, with
``RiskLimits(compiled=True)`` (``risk.compile`` in the config), the inductor-compiled
:func:`~mtquant.risk_management.limits_core.fused_core`; both return a ``CoreOut`` from which
:func:`enforce_limits` builds ``RiskDiagnostics``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import NamedTuple

import torch

from mtquant.config.risk import RiskConfig
from mtquant.errors import ConfigError, DataError
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.limits_core import (
    HELD_EPS,
    CoreFn,
    CoreLimits,
    CoreOut,
    compiled_core,
)
from mtquant.risk_management.var import z_score
from mtquant.risk_management.var_models import TailRisk, VarInputs, VarModel, normal_ratios

__all__ = [
    "BINDING_NAMES",
    "HELD_EPS",
    "RiskDiagnostics",
    "RiskLimits",
    "book_tail",
    "diagnostics",
    "enforce_limits",
    "run_fused",
]
BINDING_NAMES = ("none", "correlation", "sector", "gross", "position", "margin", "var")
CORRELATION_RULES = ("pairwise", "weighted")
EXPOSURE_RTOL = 1e-12  # the weighted rule acts on exposures beyond the limit by more than this


@dataclass
class RiskLimits:
    """Limits of :class:`RiskConfig` plus the universe's sector index and margin rates.

    Everything :func:`enforce_limits` needs besides the limits themselves (pair selectors,
    sector matrix, layer codes) is built once here; :meth:`for_tensor` caches a copy per
    (device, dtype) so a call never rebuilds them.
    """

    max_portfolio_var: float
    confidence: float
    max_correlation_exposure: float
    max_sector_allocation: float
    max_gross_leverage: float
    max_position_weight: float
    max_margin_usage: float
    sector_index: torch.Tensor  # [N] long, position of each instrument's sector
    margin_rate: torch.Tensor  # [N] margin as a fraction of notional
    sector_names: tuple[str, ...] = ()
    compiled: bool = False  # enforce through the inductor-compiled core (limits_core.py)
    var_method: str = "parametric"  # the enforced VaR model (var_models.VAR_METHODS)
    max_portfolio_es: float | None = None  # optional Expected Shortfall limit (same confidence)
    correlation_rule: str = "pairwise"  # pairwise | weighted (CORRELATION_RULES, module doc)
    z: float = field(init=False)
    var_model: VarModel = field(init=False)
    sectors: tuple[int, ...] = field(init=False)  # sector_index as python ints (compiled core)
    core_limits: CoreLimits = field(init=False)  # the scalar limits (compiled core)
    sector_onehot: torch.Tensor = field(init=False)  # [N, K]
    same_sector: torch.Tensor = field(init=False)  # [N, N] 1 where i and j share a sector
    pair_i: torch.Tensor = field(init=False)  # [P] leg i of the pairs i < j (row-major)
    pair_j: torch.Tensor = field(init=False)  # [P] leg j of the pairs i < j
    pair_legs: torch.Tensor = field(init=False)  # [2P] legs i then legs j of the pairs
    pair_legs2: torch.Tensor = field(init=False)  # [4P] pair_legs, then pair_legs + N
    pair_i_onehot: torch.Tensor = field(init=False)  # [N, P] 1 where leg n is the pair's i
    pair_j_onehot: torch.Tensor = field(init=False)  # [N, P] 1 where leg n is the pair's j
    cov_rows: torch.Tensor = field(init=False)  # [N + P] flat cov index of S_nn, then S_ij
    layer_bits: torch.Tensor = field(init=False)  # [6] 2^(k-1) of layer k, float
    layer_sign: torch.Tensor = field(init=False)  # [6, 1] layer k bound iff stat_k * sign_k
    layer_threshold: torch.Tensor = field(init=False)  # [6, 1]   < threshold_k (enforce_limits)
    _variants: dict[tuple[torch.device, torch.dtype], RiskLimits] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        n = int(self.sector_index.shape[0])
        if self.margin_rate.shape != (n,):
            raise DataError(f"margin_rate must be [{n}]; got {tuple(self.margin_rate.shape)}")
        self.z = z_score(self.confidence)
        self.var_model = VarModel(self.var_method, self.confidence)
        if self.correlation_rule not in CORRELATION_RULES:
            raise ConfigError(
                f"config risk.correlation_rule={self.correlation_rule!r}: unknown; known "
                f"{CORRELATION_RULES}"
            )
        plain = (
            self.var_method == "parametric"
            and self.max_portfolio_es is None
            and self.correlation_rule == "pairwise"
        )
        if self.compiled and not plain:
            raise ConfigError(
                "config risk.compile=true compiles the pairwise correlation rule and the "
                "parametric VaR only; got risk.var_method="
                f"{self.var_method!r}, risk.correlation_rule={self.correlation_rule!r}, "
                f"risk.max_portfolio_es={self.max_portfolio_es!r} (set risk.compile=false)"
            )
        k = max(len(self.sector_names), int(self.sector_index.max()) + 1 if n else 0)
        idx = self.sector_index.long()
        self.sector_index = idx
        self.sectors = tuple(int(i) for i in idx.tolist())
        self.core_limits = CoreLimits(
            max_correlation_exposure=self.max_correlation_exposure,
            sector_cap=self.sector_cap,
            max_gross_leverage=self.max_gross_leverage,
            max_position_weight=self.max_position_weight,
            max_margin_usage=self.max_margin_usage,
            max_portfolio_var=self.max_portfolio_var,
            z=self.z,
        )
        self.sector_onehot = torch.nn.functional.one_hot(idx, k).to(self.margin_rate.dtype)
        self.same_sector = self.sector_onehot @ self.sector_onehot.T
        pi, pj = pair_index(n, idx.device)
        self.pair_i, self.pair_j = pi, pj
        self.pair_legs = torch.cat([pi, pj])
        self.pair_legs2 = torch.cat([self.pair_legs, self.pair_legs + n])
        eye = torch.eye(n, dtype=self.margin_rate.dtype, device=idx.device)
        self.pair_i_onehot = eye[:, pi].contiguous()
        self.pair_j_onehot = eye[:, pj].contiguous()
        diag = torch.arange(n, device=idx.device) * (n + 1)
        self.cov_rows = torch.cat([diag, pi * n + pj])
        dtype, n_layers = self.margin_rate.dtype, len(BINDING_NAMES) - 1
        self.layer_bits = 2.0 ** torch.arange(n_layers, dtype=dtype, device=idx.device)
        if not self.max_correlation_exposure >= 0.0:
            raise DataError(
                "max_correlation_exposure must be >= 0 (0 forbids every positively correlated "
                f"pair); got {self.max_correlation_exposure}"
            )
        # stats: max drop hit, min sector scale, gross scale, max |w|, margin scale, VaR scale
        self.layer_sign = torch.tensor(
            [[-1], [1], [1], [-1], [1], [1]], dtype=dtype, device=idx.device
        )
        self.layer_threshold = torch.tensor(
            [[0], [1], [1], [-self.max_position_weight], [1], [1]], dtype=dtype, device=idx.device
        )
        self._variants = {(self.margin_rate.device, self.margin_rate.dtype): self}

    @classmethod
    def from_config(
        cls, risk_cfg: RiskConfig, universe: InstrumentUniverse, dtype: torch.dtype = torch.float64
    ) -> RiskLimits:
        """Limits of ``risk_cfg`` on ``universe``; ``risk_cfg.compile`` picks the compiled core."""
        return cls(
            max_portfolio_var=risk_cfg.max_portfolio_var,
            confidence=risk_cfg.var_confidence,
            max_correlation_exposure=risk_cfg.max_correlation_exposure,
            max_sector_allocation=risk_cfg.max_sector_allocation,
            max_gross_leverage=risk_cfg.max_gross_leverage,
            max_position_weight=risk_cfg.max_position_weight,
            max_margin_usage=risk_cfg.max_margin_usage,
            sector_index=universe.sector_index(),
            margin_rate=universe.terms(dtype=dtype)["margin_rate"],
            sector_names=tuple(universe.sectors),
            compiled=risk_cfg.compile,
            var_method=risk_cfg.var_method,
            max_portfolio_es=risk_cfg.max_portfolio_es,
            correlation_rule=risk_cfg.correlation_rule,
        )

    @property
    def n(self) -> int:
        return int(self.sector_index.shape[0])

    @property
    def sector_cap(self) -> float:
        """Gross notional / equity allowed per sector."""
        return self.max_sector_allocation * self.max_gross_leverage

    def to(self, device: torch.device | str, dtype: torch.dtype) -> RiskLimits:
        """Copy with tensors on ``device`` and margin rates in ``dtype``."""
        init = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        init["sector_index"] = self.sector_index.to(device)
        init["margin_rate"] = self.margin_rate.to(device=device, dtype=dtype)
        return RiskLimits(**init)

    def for_tensor(self, x: torch.Tensor) -> RiskLimits:
        """These limits' tensors on ``x``'s device and dtype, built once per pair and cached."""
        key = (x.device, x.dtype)
        variant = self._variants.get(key)
        if variant is None:
            variant = self._variants[key] = self.to(x.device, x.dtype)
        return variant


@dataclass
class RiskDiagnostics:
    """What :func:`enforce_limits` did to each book, all ``[B]``."""

    proposed_var: torch.Tensor
    executed_var: torch.Tensor
    scale: torch.Tensor  # executed gross / proposed gross (1 for an empty book)
    binding: torch.Tensor  # int64, last binding layer (see BINDING_NAMES)
    binding_flags: torch.Tensor  # int64, bit k-1 for every layer k that bound
    correlation_exposure_after: torch.Tensor  # the enforced rule's measure (module doc)
    executed_es: torch.Tensor  # Expected Shortfall of the limit-compliant book (the VaR model's)
    executed_var99: torch.Tensor  # its VaR at 99% (reported, never enforced)
    # effective correlations [P, B], held legs (pairwise) or leg sizes (weighted) [N, B], pair
    # legs i and j [P]: for the property
    _before: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] = field(repr=False)
    rule: str = "pairwise"

    @property
    def correlation_exposure_before(self) -> torch.Tensor:
        """Correlation exposure of the proposed book, computed when asked (off the hot path)."""
        eff, legs, pi, pj = self._before
        if self.rule == "weighted":
            return _weighted(eff, legs[pi] * legs[pj])
        return _top(eff, legs[pi] * legs[pj])


def _inv_sd(cov: torch.Tensor) -> torch.Tensor:
    """``1 / sqrt(S_ii)`` ``[.., N]``, 0 where the variance is not positive (its correlations
    are 0): ``rsqrt`` gives inf at 0 and nan below, both mapped to 0 in one op."""
    var = torch.diagonal(cov, dim1=-2, dim2=-1)
    return torch.nan_to_num(var.rsqrt(), nan=0.0, posinf=0.0, neginf=0.0)


def pair_index(n: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``i`` and columns ``j`` ``[P]`` of the ``P = N (N - 1) / 2`` pairs with i < j."""
    ij = torch.triu_indices(n, n, offset=1, device=device)
    return ij[0], ij[1]


def _top(eff: torch.Tensor, both_held: torch.Tensor) -> torch.Tensor:
    """Max effective correlation ``[B]`` over the pairs (rows of ``eff [P, B]``) whose legs are
    both held (``both_held`` 0/1); 0 with fewer than two held legs. An unheld pair is pushed to
    ``<= -2``, below every correlation, so it only wins the max when no pair is held."""
    if eff.shape[0] == 0:  # a single instrument has no pairs
        return eff.new_zeros(eff.shape[1])
    top = (both_held * 3.0).sub_(3.0).add_(eff).amax(0)
    return top.mul_(top > -1.5)


def _weighted(eff: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Size-weighted mean effective correlation ``[B]`` of the pairs (rows of ``eff [P, B]``,
    weights ``sizes = |w_i||w_j|``); 0 when no two legs are held."""
    den = sizes.sum(0)
    return (sizes * eff).sum(0) / den.clamp_min(1e-300) * (den > 0)


def correlation_exposure(weights: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """Max effective correlation ``sign(w_i) sign(w_j) rho_ij`` over held pairs → ``[B]``.

    ``weights`` ``[B, N]`` (a leg is held when ``|w| > 1e-12``), ``rho`` ``[B, N, N]`` or
    ``[N, N]`` (a correlation, or a covariance: its diagonal normalises it); 0 for fewer than
    two held legs.
    """
    n = weights.shape[-1]
    pi, pj = pair_index(n, weights.device)
    rho = rho.to(weights.dtype)
    inv_sd = _inv_sd(rho)
    held = (weights.abs() > HELD_EPS).to(weights.dtype)
    g = torch.sign(weights) * held * inv_sd
    eff = g[:, pi] * g[:, pj] * rho[..., pi, pj]
    return _top(eff.T, (held[:, pi] * held[:, pj]).T)


def _check_shapes(weights: torch.Tensor, cov: torch.Tensor, n: int) -> None:
    if weights.ndim != 2 or weights.shape[1] != n:
        raise DataError(f"weights must be [B, {n}]; got {tuple(weights.shape)}")
    ok = cov.shape == (n, n) or (cov.ndim == 3 and cov.shape == (weights.shape[0], n, n))
    if not ok:
        raise DataError(f"cov must be [{n}, {n}] or [B, {n}, {n}]; got {tuple(cov.shape)}")


def _cov_rows(cov: torch.Tensor, lim: RiskLimits) -> tuple[torch.Tensor, torch.Tensor]:
    """Variances ``[N, B]`` and pair covariances ``[P, B]`` (``[.., 1]`` for a shared ``[N, N]``
    covariance), leg-major, in ``lim``'s dtype: one row gather from the flat ``[N*N, B]`` view."""
    n = lim.n
    flat = cov.reshape(-1, n * n).T  # [N*N, B] view (B = 1 for a shared covariance)
    rows = flat.index_select(0, lim.cov_rows).to(lim.margin_rate.dtype)
    return rows[:n], rows[n:]


def _quad_forms(
    w: torch.Tensor, var: torch.Tensor, pair_cov: torch.Tensor, lim: RiskLimits
) -> torch.Tensor:
    """``w_k' S w_k = sum_i S_ii w_i^2 + 2 sum_{i<j} S_ij w_i w_j`` ``[K, B]`` for ``K`` stacked
    leg-major books ``w [K, N, B]`` (one gather of the pair legs for all of them)."""
    legs = w.index_select(1, lim.pair_legs)  # [K, 2P, B]: legs i, then legs j
    p = legs.shape[1] // 2
    pairs = legs[:, :p].mul_(legs[:, p:]).mul_(pair_cov).sum(1)
    return (w * w).mul_(var).sum(1).add_(pairs, alpha=2.0)


def book_tail(
    weights: torch.Tensor,
    cov: torch.Tensor,
    limits: RiskLimits,
    var_inputs: VarInputs | None = None,
) -> TailRisk:
    """The VaR layer's measure of any book ``weights [B, N]``: VaR, ES and VaR at 99% ``[B]``
    under ``limits.var_model`` (what :func:`enforce_limits` reports for the book it returns).
    ``var_inputs`` are the model's inputs (:class:`~mtquant.risk_management.var_models.VarTape`);
    the parametric model may read ``cov`` instead."""
    _check_shapes(weights, cov, limits.n)
    lim = limits.for_tensor(weights)
    if var_inputs is None and limits.var_method == "parametric":
        var, pair_cov = _cov_rows(cov, lim)
        quad = _quad_forms(weights.T.unsqueeze(0), var, pair_cov, lim)[0]
        executed_var = quad.clamp_min(0.0).sqrt() * lim.z
        return TailRisk(executed_var, *_normal_ratios(executed_var, lim))
    tail = lim.var_model.tail(weights[None], _model_inputs(limits, var_inputs))
    return TailRisk(tail.var[0], tail.es[0], tail.var99[0])


def _normal_ratios(var: torch.Tensor, lim: RiskLimits) -> tuple[torch.Tensor, torch.Tensor]:
    """ES and VaR99 of a normal model from its VaR (fixed ratios of sigma)."""
    es_ratio, var99_ratio = normal_ratios(lim.confidence)
    return var * es_ratio, var * var99_ratio


def _model_inputs(limits: RiskLimits, var_inputs: VarInputs | None) -> VarInputs:
    if var_inputs is None:
        raise DataError(
            f"risk.var_method={limits.var_method!r} needs its inputs (a VarTape's rows); "
            "none were given"
        )
    return var_inputs


def enforce_limits(
    weights: torch.Tensor,
    cov: torch.Tensor,
    limits: RiskLimits,
    var_inputs: VarInputs | None = None,
) -> tuple[torch.Tensor, RiskDiagnostics]:
    """Compliant executed weights ``[B, N]`` for proposed ``weights [B, N]`` (module doc).

    ``cov`` is ``[B, N, N]`` or a shared ``[N, N]``, in any float dtype (the entries read are
    converted to ``weights``' dtype): the sample covariance of the correlation layer (and of the
    parametric VaR). ``var_inputs``: the enforced VaR model's inputs for these books (needed
    unless ``limits.var_method`` is ``parametric``). Runs the compiled core when
    ``limits.compiled`` (books of two or more instruments), else the eager one.
    """
    _check_shapes(weights, cov, limits.n)
    lim = limits.for_tensor(weights)
    if limits.compiled and limits.n >= 2:
        out = run_fused(compiled_core(), weights, cov, limits)
        return out.executed, diagnostics(out, lim)
    out, extra = _eager_core(weights, cov, limits, lim, var_inputs)
    return out.executed, diagnostics(out, lim, extra)


def run_fused(
    core: CoreFn, weights: torch.Tensor, cov: torch.Tensor, limits: RiskLimits
) -> CoreOut:
    """``core`` (:func:`~mtquant.risk_management.limits_core.fused_core`, compiled or not) on
    ``weights [B, N]`` and a per-book or shared covariance (a shared one is expanded)."""
    if cov.ndim == 2:
        cov = cov.expand(weights.shape[0], limits.n, limits.n)
    margin_rate = limits.for_tensor(weights).margin_rate
    return core(weights, cov, limits.sectors, margin_rate, limits.core_limits)


class _TailExtra(NamedTuple):
    """What the eager core adds to a ``CoreOut``: the executed book's ES and VaR99, and the
    tensor the correlation-exposure property weighs pairs by."""

    executed_es: torch.Tensor | None  # None: normal ratios of executed_var (parametric)
    executed_var99: torch.Tensor | None
    legs: torch.Tensor  # [N, B] held legs (pairwise) or proposed sizes |w| (weighted)


def diagnostics(out: CoreOut, lim: RiskLimits, extra: _TailExtra | None = None) -> RiskDiagnostics:
    """:class:`RiskDiagnostics` of a core's output (``lim``: the limits on its device)."""
    es = var99 = None
    legs = out.held
    if extra is not None:
        es, var99, legs = extra
    if es is None or var99 is None:
        es, var99 = _normal_ratios(out.executed_var, lim)
    return RiskDiagnostics(
        proposed_var=out.proposed_var,
        executed_var=out.executed_var,
        scale=out.scale,
        binding=out.binding,
        binding_flags=out.binding_flags,
        correlation_exposure_after=out.correlation_exposure_after,
        executed_es=es,
        executed_var99=var99,
        _before=(out.eff, legs, lim.pair_i, lim.pair_j),
        rule=lim.correlation_rule,
    )


def _eager_core(
    weights: torch.Tensor,
    cov: torch.Tensor,
    limits: RiskLimits,
    lim: RiskLimits,
    var_inputs: VarInputs | None = None,
) -> tuple[CoreOut, _TailExtra]:
    """The eager core: ``limits`` and their tensors ``lim`` on ``weights``' device and dtype.

    Hot path of every env step, written for CPU. The work is done leg-major (``[N, B]`` and
    ``[P, B]`` pair rows): every elementwise op and every reduction over legs or pairs then runs
    along long contiguous rows of B books, where a ``[B, P]`` layout reduces over short rows.
    Masks are 0/1 arithmetic (``sign``/``clamp``; bool tensors and ``where`` cost more), an
    unheld leg has ``g = 0`` and so effective correlation 0 with every leg (never above a limit
    ``>= 0``: no pair mask), and nothing branches on values in Python.
    """
    pi = lim.pair_i
    weighted = limits.correlation_rule == "weighted"
    var, pair_cov = _cov_rows(cov, lim)
    w0 = weights.T.contiguous()  # [N, B]
    a0 = w0.abs()
    sign0 = torch.sign(w0)
    held = (a0 - HELD_EPS).sign_().clamp_(min=0.0)  # 1 iff |w| > HELD_EPS

    # effective correlations sign(w_i) sign(w_j) rho_ij of the held pairs
    g = sign0 * held * torch.nan_to_num(var.rsqrt(), nan=0.0, posinf=0.0)  # sign / sd, [N, B]
    legs = torch.cat([g, a0]).index_select(0, lim.pair_legs2)  # g_i, g_j, |w_i|, |w_j| [4P, B]
    p = pi.shape[0]
    eff = legs[:p].mul_(legs[p : 2 * p]).mul_(pair_cov)  # [P, B]
    if weighted:
        a = a0.clone()
    else:  # 1. pairwise: drop the smaller leg of every offending held pair
        over = (eff - limits.max_correlation_exposure).clamp_(min=0.0)  # > 0: offending pair
        drop_i = legs[3 * p :].sub_(legs[2 * p : 3 * p]).sign_().clamp_(min=0.0)
        over_i = drop_i.mul_(over)  # |w_j| > |w_i| drops i; a tie drops the later index j
        over_j = over.sub_(over_i)
        hits = torch.addmm(lim.pair_i_onehot @ over_i, lim.pair_j_onehot, over_j)  # [N, B]
        a = hits.neg().sign_().add_(1.0).mul_(a0)  # dropped legs 0; |w| after each layer below

    # 2. per-sector gross notional (same-sector sums through one [N, N] matmul)
    sector_scale = (limits.sector_cap / (lim.same_sector @ a)).clamp_(max=1.0)
    a.mul_(sector_scale)

    # 3. gross leverage
    gross_scale = (limits.max_gross_leverage / a.sum(0)).clamp_(max=1.0)
    a.mul_(gross_scale)

    # 4. per-position magnitude
    cap = limits.max_position_weight
    top_abs = a.amax(0)
    a.clamp_(max=cap)

    if weighted:  # 1. size-weighted correlation exposure, after the layers that reshape the book
        before = a.sum(0)
        a = _scale_correlated_legs(a, eff, held, limits.max_correlation_exposure, lim)
        corr_stat = before - a.sum(0)  # > 0 iff legs were scaled
    else:
        corr_stat = hits.sum(0)

    # 5. margin usage
    margin_scale = (limits.max_margin_usage / (lim.margin_rate @ a)).clamp_(max=1.0)
    a.mul_(margin_scale)

    # 6. VaR (and ES), homogeneous of degree 1 in a common scale
    w = sign0.mul_(a)
    es_scale: torch.Tensor | None = None
    es_pre = var99_pre = None
    if var_inputs is None and limits.var_method == "parametric":
        z = lim.z
        var_both = _quad_forms(torch.stack([w, w0]), var, pair_cov, lim).clamp_(min=0.0).sqrt_()
        var_pre, var_proposed = var_both.mul_(z).unbind(0)
        if limits.max_portfolio_es is not None:
            es_pre = _normal_ratios(var_pre, lim)[0]
    else:
        tail = lim.var_model.tail(torch.stack([w.T, w0.T]), _model_inputs(limits, var_inputs))
        var_pre, var_proposed = tail.var.unbind(0)
        es_pre, var99_pre = tail.es[0], tail.var99[0]
    var_scale = (limits.max_portfolio_var / var_pre).clamp_(max=1.0)
    if var99_pre is not None:  # a model's tail can be a gain (VaR <= 0): nothing to scale
        var_scale = torch.where(var_pre > 0.0, var_scale, torch.ones_like(var_scale))
    if limits.max_portfolio_es is not None:
        assert es_pre is not None
        es_scale = (limits.max_portfolio_es / es_pre).clamp_(max=1.0)
        es_scale = torch.where(es_pre > 0.0, es_scale, torch.ones_like(es_scale))
        var_scale = torch.minimum(var_scale, es_scale)
    executed = w.mul_(var_scale)
    abs_ex = a.mul_(var_scale)

    # layer k changed the book iff stat_k * sign_k < threshold_k (hit > 0, scale < 1, max |w| >
    # cap); the flags are sum 2^(k-1) and the binding layer is the highest code that bound
    stats = torch.stack(
        [corr_stat, sector_scale.amin(0), gross_scale, top_abs, margin_scale, var_scale]
    )
    bound = stats.mul_(lim.layer_sign).lt_(lim.layer_threshold)  # [6, B] 0/1 in w's dtype
    flags = lim.layer_bits @ bound  # [B], exact small integers
    if weighted:
        sizes = abs_ex.index_select(0, lim.pair_legs)
        exposure_after = _weighted(eff, sizes[:p] * sizes[p:])
    else:
        held_ex = (abs_ex - HELD_EPS).sign_().clamp_(min=0.0).index_select(0, lim.pair_legs)
        exposure_after = _top(eff, held_ex[:p].mul_(held_ex[p:]))
    executed_var = var_pre * var_scale
    out = CoreOut(
        executed=executed.T,
        proposed_var=var_proposed,
        executed_var=executed_var,
        scale=abs_ex.sum(0).div_(a0.sum(0)).nan_to_num_(nan=1.0),
        binding=torch.frexp(flags).exponent.long(),
        binding_flags=flags.long(),
        correlation_exposure_after=exposure_after,
        eff=eff,
        held=held,
    )
    es_ex = None if es_pre is None or var99_pre is None else es_pre * var_scale
    var99_ex = None if var99_pre is None else var99_pre * var_scale
    return out, _TailExtra(es_ex, var99_ex, a0 if weighted else held)


def _scale_correlated_legs(
    a: torch.Tensor, eff: torch.Tensor, held: torch.Tensor, limit: float, lim: RiskLimits
) -> torch.Tensor:
    """Sizes ``[N, B]`` whose size-weighted correlation exposure ``sum q_ij e_ij / sum q_ij``
    (``q_ij = a_i a_j`` over held pairs, ``e`` the effective correlations ``[P, B]``) is at most
    ``limit``: the legs whose own size-weighted mean correlation with the rest exceeds the limit
    are scaled by the largest common ``s`` in ``[0, 1]`` that meets it (a root of ``A s^2 + B s
    + C``, the exposure's excess over the limit as a function of ``s``), or every leg but the
    book's largest is (then ``s = 0`` always meets it): of the two, the one that keeps the larger
    gross (the first is infeasible when the other legs alone exceed the limit). Compliant books
    are left as they are (``s = 1``)."""
    p = eff.shape[0]
    sizes = a.index_select(0, lim.pair_legs)  # a_i then a_j [2P, B]
    ai, aj = sizes[:p], sizes[p:]
    q = ai * aj
    excess = (eff - limit).mul_(q)  # [P, B] q_ij (e_ij - L)
    # beyond the limit by more than rounding: a book scaled to the limit stays put
    violated = excess.sum(0) > EXPOSURE_RTOL * q.sum(0)  # [B]
    if not bool(violated.any()):
        return a
    # legs whose weighted mean correlation with the others exceeds the limit
    lean = lim.pair_i_onehot @ (aj * (eff - limit)) + lim.pair_j_onehot @ (ai * (eff - limit))
    own = (lean > 0.0).to(a.dtype) * held
    largest = torch.nn.functional.one_hot(a.argmax(0), a.shape[0]).T.to(a.dtype)
    rest = held * (1.0 - largest)

    def coefficients(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hp = h.index_select(0, lim.pair_legs)
        hi, hj = hp[:p], hp[p:]
        both = hi * hj
        one = hi + hj - 2.0 * both
        none = 1.0 - hi - hj + both
        return (excess * both).sum(0), (excess * one).sum(0), (excess * none).sum(0)

    def largest_root(h: torch.Tensor) -> torch.Tensor:
        """The largest s in [0, 1] with ``f(s) = A s^2 + B s + C <= 0`` for legs ``h`` scaled
        (f(0) = C <= 0 < f(1)); each closed form where it is stable."""
        qa, qb, qc = coefficients(h)
        root = (qb * qb - 4.0 * qa * qc).clamp_min(0.0).sqrt()
        from_b = 2.0 * qc / (-qb - root).clamp(max=-1e-300)
        from_a = (root - qb) / (2.0 * qa).clamp_min(1e-300)
        s = torch.where(qb > 0.0, from_b, from_a).clamp(0.0, 1.0)
        return torch.where(qc <= 0.0, s, torch.full_like(s, -1.0))  # -1: not feasible

    def kept(h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return (a * (1.0 - h * (1.0 - s))).sum(0)

    s_own, s_rest = largest_root(own), largest_root(rest)  # s_rest is always feasible (C = 0)
    use_own = (s_own >= 0.0) & (kept(own, s_own) >= kept(rest, s_rest))
    h = torch.where(use_own, own, rest)
    s = torch.where(use_own, s_own, s_rest)
    s = torch.where(violated, s, torch.ones_like(s))
    return a * (1.0 - h * (1.0 - s))
