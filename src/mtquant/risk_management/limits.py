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
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch

from mtquant.config.risk import RiskConfig
from mtquant.errors import DataError
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.var import quad_form, z_score

HELD_EPS = 1e-12  # |w| above this counts as a held leg
BINDING_NAMES = ("none", "correlation", "sector", "gross", "position", "margin", "var")


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
    z: float = field(init=False)
    sector_onehot: torch.Tensor = field(init=False)  # [N, K]
    same_sector: torch.Tensor = field(init=False)  # [N, N] 1 where i and j share a sector
    pair_flat: torch.Tensor = field(init=False)  # [P] flat index i * N + j of the pairs i < j
    pair_i_sel: torch.Tensor = field(init=False)  # [N, P] x @ it = x[:, i] of the pairs i < j
    pair_j_sel: torch.Tensor = field(init=False)  # [N, P] x @ it = x[:, j] of the pairs i < j
    pair_sum_sel: torch.Tensor = field(init=False)  # [N, P] x @ it = x[:, i] + x[:, j]
    pair_diff_sel: torch.Tensor = field(init=False)  # [N, P] x @ it = x[:, j] - x[:, i]
    layer_bits: torch.Tensor = field(init=False)  # [6] 2^(k-1) of layer k, float
    layer_sign: torch.Tensor = field(init=False)  # [6] layer k bound iff stat_k * sign_k
    layer_threshold: torch.Tensor = field(init=False)  # [6]    < threshold_k (enforce_limits)
    _variants: dict[tuple[torch.device, torch.dtype], RiskLimits] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        n = int(self.sector_index.shape[0])
        if self.margin_rate.shape != (n,):
            raise DataError(f"margin_rate must be [{n}]; got {tuple(self.margin_rate.shape)}")
        self.z = z_score(self.confidence)
        k = max(len(self.sector_names), int(self.sector_index.max()) + 1 if n else 0)
        idx = self.sector_index.long()
        self.sector_index = idx
        self.sector_onehot = torch.nn.functional.one_hot(idx, k).to(self.margin_rate.dtype)
        self.same_sector = self.sector_onehot @ self.sector_onehot.T
        pi, pj = pair_index(n, idx.device)
        self.pair_flat = pi * n + pj
        sel = pair_selector(n, self.margin_rate.dtype, idx.device)
        self.pair_i_sel = sel[:, : len(pi)].contiguous()
        self.pair_j_sel = sel[:, len(pi) :].contiguous()
        self.pair_sum_sel = self.pair_i_sel + self.pair_j_sel
        self.pair_diff_sel = self.pair_j_sel - self.pair_i_sel
        dtype, n_layers = self.margin_rate.dtype, len(BINDING_NAMES) - 1
        self.layer_bits = 2.0 ** torch.arange(n_layers, dtype=dtype, device=idx.device)
        # stats: max drop hit, min sector scale, gross scale, max |w|, margin scale, VaR scale
        self.layer_sign = torch.tensor([-1, 1, 1, -1, 1, 1], dtype=dtype, device=idx.device)
        self.layer_threshold = torch.tensor(
            [0, 1, 1, -self.max_position_weight, 1, 1], dtype=dtype, device=idx.device
        )
        self._variants = {(self.margin_rate.device, self.margin_rate.dtype): self}

    @classmethod
    def from_config(
        cls, risk_cfg: RiskConfig, universe: InstrumentUniverse, dtype: torch.dtype = torch.float64
    ) -> RiskLimits:
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
    correlation_exposure_before: torch.Tensor
    correlation_exposure_after: torch.Tensor

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def correlation_from_cov(cov: torch.Tensor) -> torch.Tensor:
    """Correlation ``[.., N, N]`` of a covariance; 0 where a variance is 0."""
    inv_sd = _inv_sd(cov)
    return cov * inv_sd.unsqueeze(-1) * inv_sd.unsqueeze(-2)


def _inv_sd(cov: torch.Tensor) -> torch.Tensor:
    """``1 / sqrt(S_ii)`` ``[.., N]``, 0 where the variance is not positive (its correlations
    are 0): ``rsqrt`` gives inf at 0 and nan below, both mapped to 0 in one op."""
    var = torch.diagonal(cov, dim1=-2, dim2=-1)
    return torch.nan_to_num(var.rsqrt(), nan=0.0, posinf=0.0, neginf=0.0)


def pair_index(n: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``i`` and columns ``j`` ``[P]`` of the ``P = N (N - 1) / 2`` pairs with i < j."""
    ij = torch.triu_indices(n, n, offset=1, device=device)
    return ij[0], ij[1]


def pair_selector(n: int, dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[N, 2P]`` 0/1 matrix: ``x @ sel`` = ``cat(x[:, i], x[:, j])`` over the pairs i < j.

    A matmul with a 0/1 matrix copies values exactly (finite inputs) and is much faster on CPU
    than advanced indexing for small N; with two nonzero entries +-1 per column it forms the sum
    or difference of two legs with the single rounding of a plain ``+`` / ``-``.
    """
    pi, pj = pair_index(n, device)
    eye = torch.eye(n, dtype=dtype, device=device)
    return torch.cat([eye[:, pi], eye[:, pj]], dim=1)


def _pair_cov(cov: torch.Tensor, flat_idx: torch.Tensor) -> torch.Tensor:
    """``S_ij`` of the pairs i < j: ``[B, P]`` for ``cov [B, N, N]``, ``[P]`` for ``[N, N]``."""
    n = cov.shape[-1]
    if cov.ndim == 2:
        return cov.reshape(n * n)[flat_idx]
    return torch.gather(cov.reshape(-1, n * n), 1, flat_idx.expand(cov.shape[0], -1))


def _unheld(dtype: torch.dtype) -> float:
    """Additive penalty of a pair with an unheld leg: far below any effective correlation
    (those are O(1)), so the pair drops out of the ``> limit`` test and of the max; finite, so
    that it passes through the 0/1 selector matmuls exactly."""
    return -0.25 * torch.finfo(dtype).max


def _unheld_penalty(abs_weights: torch.Tensor, sum_sel: torch.Tensor) -> torch.Tensor:
    """``[B, P]`` from ``|w| [B, N]``: 0 for a held pair (both ``|w| > 1e-12``), ``<= _unheld``
    otherwise."""
    dtype = abs_weights.dtype
    unheld = (abs_weights <= HELD_EPS).to(dtype).mul_(_unheld(dtype))
    return unheld @ sum_sel  # penalty of leg i + penalty of leg j, exact


def _top(masked: torch.Tensor) -> torch.Tensor:
    """Max over the pairs of penalised correlations ``[B]``; 0 when no pair is held."""
    if masked.shape[-1] == 0:  # a single instrument has no pairs
        return masked.new_zeros(masked.shape[0])
    top = masked.amax(-1)
    return torch.where(top < 0.5 * _unheld(top.dtype), 0.0, top)


def correlation_exposure(weights: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """Max effective correlation ``sign(w_i) sign(w_j) rho_ij`` over held pairs → ``[B]``.

    ``weights`` ``[B, N]`` (a leg is held when ``|w| > 1e-12``), ``rho`` ``[B, N, N]`` or
    ``[N, N]`` (a correlation, or a covariance: its diagonal normalises it); 0 for fewer than
    two held legs.
    """
    n = weights.shape[-1]
    pi, pj = pair_index(n, weights.device)
    sel = pair_selector(n, weights.dtype, weights.device)
    sel_i, sel_j = sel[:, : len(pi)], sel[:, len(pi) :]
    rho = rho.to(weights.dtype)
    eff = _pair_correlations(weights, rho, sel_i, sel_j, pi * n + pj)
    return _top(eff + _unheld_penalty(weights.abs(), sel_i + sel_j))


def _pair_correlations(
    weights: torch.Tensor,
    cov: torch.Tensor,
    sel_i: torch.Tensor,
    sel_j: torch.Tensor,
    flat_idx: torch.Tensor,
) -> torch.Tensor:
    """Effective correlations ``sign(w_i) sign(w_j) rho_ij`` of the pairs i < j → ``[B, P]``."""
    g = torch.sign(weights).mul_(_inv_sd(cov))  # [B, N]
    return (g @ sel_i).mul_(g @ sel_j).mul_(_pair_cov(cov, flat_idx))


def _check_shapes(weights: torch.Tensor, cov: torch.Tensor, n: int) -> None:
    if weights.ndim != 2 or weights.shape[1] != n:
        raise DataError(f"weights must be [B, {n}]; got {tuple(weights.shape)}")
    ok = cov.shape == (n, n) or (cov.ndim == 3 and cov.shape == (weights.shape[0], n, n))
    if not ok:
        raise DataError(f"cov must be [{n}, {n}] or [B, {n}, {n}]; got {tuple(cov.shape)}")


def enforce_limits(
    weights: torch.Tensor, cov: torch.Tensor, limits: RiskLimits
) -> tuple[torch.Tensor, RiskDiagnostics]:
    """Compliant executed weights ``[B, N]`` for proposed ``weights [B, N]`` (module doc).

    Hot path of every env step, written for CPU: pair quantities live in ``[B, P]`` tensors
    formed by 0/1 (and +-1) selector matmuls, masks are folded into arithmetic (``where`` and
    bool casts on ``[B, P]`` cost more than the matmuls), intermediates are updated in place
    (fresh large buffers cost page faults) and nothing branches on values in Python.
    """
    _check_shapes(weights, cov, limits.n)
    lim = limits.for_tensor(weights)
    cov = cov.to(weights.dtype)
    w0 = weights
    a0 = w0.abs()

    # 1. correlation concentration: drop the smaller leg of every offending held pair
    eff = _pair_correlations(w0, cov, lim.pair_i_sel, lim.pair_j_sel, lim.pair_flat)  # [B, P]
    masked = _unheld_penalty(a0, lim.pair_sum_sel).add_(eff)  # unheld pairs far below a limit
    over = (masked - limits.max_correlation_exposure).clamp_(min=0.0)  # > 0: offending pair
    drop_i = (a0 @ lim.pair_diff_sel).sign_().clamp_(min=0.0)  # 1 iff |w_j| > |w_i|; a tie
    over_i = drop_i.mul_(over)  # drops the later index j
    over_j = over.sub_(over_i)
    hits = torch.addmm(over_i @ lim.pair_i_sel.T, over_j, lim.pair_j_sel.T)  # [B, N] >= 0
    w = torch.where(hits > 0, 0.0, w0)  # hit by an offending pair: dropped

    # 2. per-sector gross notional (same-sector sums through one [N, N] matmul)
    sector_scale = (limits.sector_cap / (w.abs() @ lim.same_sector)).clamp_(max=1.0)
    w.mul_(sector_scale)

    # 3. gross leverage
    gross_scale = (limits.max_gross_leverage / w.abs().sum(-1)).clamp_(max=1.0)
    w.mul_(gross_scale.unsqueeze(-1))

    # 4. per-position magnitude
    cap = limits.max_position_weight
    top_abs = w.abs().amax(-1)
    w.clamp_(-cap, cap)

    # 5. margin usage
    margin_scale = (limits.max_margin_usage / (w.abs() @ lim.margin_rate)).clamp_(max=1.0)
    w.mul_(margin_scale.unsqueeze(-1))

    # 6. parametric VaR, homogeneous of degree 1 in a common scale
    z = lim.z
    var_pre = quad_form(w, cov).clamp_(min=0.0).sqrt_().mul_(z)
    var_scale = (limits.max_portfolio_var / var_pre).clamp_(max=1.0)
    executed = w.mul_(var_scale.unsqueeze(-1))
    abs_ex = executed.abs()

    # layer k changed the book iff stat_k * sign_k < threshold_k (hit > 0, scale < 1, max |w| >
    # cap); the flags are sum 2^(k-1) and the last binding layer is their bit length
    stats = torch.stack(
        [hits.amax(-1), sector_scale.amin(-1), gross_scale, top_abs, margin_scale, var_scale], -1
    )
    bound = stats.mul_(lim.layer_sign).lt_(lim.layer_threshold)  # [B, 6] 0/1 in w's dtype
    flags = bound @ lim.layer_bits  # [B], exact small integers
    gross0 = a0.sum(-1)
    diag = RiskDiagnostics(
        proposed_var=quad_form(w0, cov).clamp_(min=0.0).sqrt_().mul_(z),
        executed_var=var_pre * var_scale,
        scale=torch.where(gross0 > 0, abs_ex.sum(-1) / gross0, 1.0),
        binding=torch.frexp(flags).exponent.long(),
        binding_flags=flags.long(),
        correlation_exposure_before=_top(masked),
        correlation_exposure_after=_top(_unheld_penalty(abs_ex, lim.pair_sum_sel).add_(eff)),
    )
    return executed, diag
