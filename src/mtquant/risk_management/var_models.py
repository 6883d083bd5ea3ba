"""The VaR models the risk transform can enforce (``risk.var_method``), batched over books.

Every model maps a book ``w`` (signed notional / equity) to its one-day tail risk at the close of
its decision day ``t`` from data up to ``t``, and every one is **homogeneous of degree 1** in a
common positive scale (``VaR(c w) = c VaR(w)``), so the limits' VaR layer makes a book compliant
with one scale ``clamp(limit / VaR, max=1)``, exactly as for today's parametric model.

``parametric``
    ``z sqrt(w' S w)`` with ``S`` the sample covariance (ddof=1) of the last ``risk.var_window``
    returns (the feature set's ``cov``; the default before issue 16).
``ewma``
    ``z sqrt(w' S w)`` with ``S`` the RiskMetrics EWMA covariance (``lambda = 0.94``, start-up
    bias removed; the feature set's ``ewma_cov``).
``historical``
    ``-quantile(R w, 1 - c)`` over the scenario rows ``R [H, N]``: the last ``H = var_window``
    returns (linear interpolation, ``numpy.quantile``'s default).
``fhs``
    filtered historical simulation: the same quantile over returns rescaled to today's
    volatility, ``R[s] * vol[t] / vol[s - 1]`` (``vol[s - 1]`` is the EWMA forecast made for day
    ``s``, ``vol[t]`` the forecast for the next day).
``cornish_fisher``
    ``-sigma z_cf`` with ``sigma``, skewness ``S`` and excess kurtosis ``K`` of the book's
    scenario P&L ``R w`` (sigma ddof=1, ``S`` and ``K`` the population moments, as
    ``scipy.stats.skew``/``kurtosis`` default) and ``z_cf = z + (z^2 - 1) S / 6 + (z^3 - 3 z) K /
    24 - (2 z^3 - 5 z) S^2 / 36`` at ``z = Phi^-1(1 - c)``.
``auto``
    the plan's choice per book: ``historical`` when Jarque-Bera rejects normality of ``R w`` at 5%
    (``JB = H/6 (S^2 + K^2 / 4) > chi2_2(0.95) = 5.991``), else ``parametric`` from the same rows.

A scenario model whose tail quantile is a gain (a window where the book only won, or a
Cornish-Fisher quantile beyond the expansion's monotone range: strong positive skew with fat
tails) forecasts no loss: its VaR, ES and 99% VaR are floored at 0 (still homogeneous), so the
VaR layer does not bind on that book and the other layers alone limit it.

Expected Shortfall at the same confidence is computed beside VaR: normal ``sigma phi(z) /
(1 - c)`` for the covariance models; the mean of the scenario P&L at or below the VaR quantile
for ``historical`` / ``fhs`` (by rank: the ``floor((H - 1)(1 - c)) + 1`` worst); the
average of the Cornish-Fisher quantile over the tail (exact: the moments of a truncated normal)
for ``cornish_fisher``. VaR at 99% is the same model at 0.99 (reported, never enforced).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from scipy import special, stats

from mtquant.errors import ConfigError, DataError

VAR_METHODS = ("parametric", "ewma", "historical", "fhs", "cornish_fisher", "auto")
COVARIANCE_METHODS = ("parametric", "ewma")  # a quadratic form of a covariance
JB_CRITICAL = float(stats.chi2.ppf(0.95, 2))  # 5.991: Jarque-Bera at 5% (auto)
REPORT_CONFIDENCE = 0.99  # the second VaR level every report backtests
EWMA_LAMBDA = 0.94  # RiskMetrics daily decay (as the feature set's vol and ewma_cov)
VOL_FLOOR = 1e-4  # the feature set's volatility floor (1 bp a day)


class TailRisk(NamedTuple):
    """One-day tail risk per book ``[..., B]`` (fractions of equity, positive = a loss)."""

    var: torch.Tensor  # VaR at the model's confidence
    es: torch.Tensor  # Expected Shortfall at the model's confidence
    var99: torch.Tensor  # VaR at REPORT_CONFIDENCE


class VarInputs(NamedTuple):
    """What a model reads for a batch of books: a covariance, or scenarios (per book).

    A scenario's P&L is ``sum_n w_n scale_n scenarios[n, h]``: ``scale`` is the volatility the
    filtered model rescales standardised returns to (None: 1)."""

    cov: torch.Tensor | None  # [B, N, N] or [N, N] covariance (parametric, ewma)
    scenarios: torch.Tensor | None  # [B, N, H] returns (historical, cf, auto) or z-scores (fhs)
    scale: torch.Tensor | None = None  # [B, N] today's volatility (fhs)


@dataclass(frozen=True)
class VarModel:
    """``risk.var_method`` at ``risk.var_confidence``: tail risk of stacked books (module doc)."""

    method: str = "parametric"
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.method not in VAR_METHODS:
            raise ConfigError(
                f"config risk.var_method={self.method!r}: unknown; known {VAR_METHODS}"
            )
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"config risk.var_confidence={self.confidence!r}: must be in (0, 1)")

    @property
    def uses_covariance(self) -> bool:
        return self.method in COVARIANCE_METHODS

    @property
    def z(self) -> float:
        return float(special.ndtri(self.confidence))

    def tail(self, books: torch.Tensor, inputs: VarInputs) -> TailRisk:
        """Tail risk of ``books [K, B, N]`` (K stacked books per account) → each ``[K, B]``."""
        if self.uses_covariance:
            if inputs.cov is None:
                raise DataError(f"VaR model {self.method!r} needs a covariance input")
            sigma = _sigma_cov(books, inputs.cov.to(books.dtype))
            return _normal_tail(sigma, self.confidence)
        if inputs.scenarios is None:
            raise DataError(f"VaR model {self.method!r} needs scenario returns")
        return TailRisk(*(x.clamp_min(0.0) for x in self._scenario_tail(books, inputs)))

    def _scenario_tail(self, books: torch.Tensor, inputs: VarInputs) -> TailRisk:
        assert inputs.scenarios is not None
        pnl = _scenario_pnl(books, inputs.scenarios, inputs.scale)
        if self.method in ("historical", "fhs"):
            return _historical_tail(pnl, self.confidence)
        moments = _moments(pnl)
        if self.method == "cornish_fisher":
            return _cornish_fisher_tail(moments, self.confidence)
        normal = _normal_tail(moments.sigma, self.confidence)  # auto
        historical = _historical_tail(pnl, self.confidence)
        jb = pnl.shape[-1] / 6.0 * (moments.skew**2 + moments.kurt**2 / 4.0)
        rejected = jb > JB_CRITICAL
        return TailRisk(
            *(torch.where(rejected, h, p) for h, p in zip(historical, normal, strict=True))
        )


# ---------------------------------------------------------------------------- pieces
def _sigma_cov(books: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """``sqrt(w' S w)`` ``[K, B]`` for ``books [K, B, N]`` and ``cov [B, N, N]`` or ``[N, N]``."""
    sw = books @ cov if cov.ndim == 2 else torch.einsum("kbn,bnm->kbm", books, cov)
    return (sw * books).sum(-1).clamp_min(0.0).sqrt()


def normal_ratios(confidence: float) -> tuple[float, float]:
    """``(ES / VaR, VaR99 / VaR)`` of a normal model at ``confidence`` (no mean)."""
    z = float(special.ndtri(confidence))
    es_factor = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) / (1.0 - confidence)
    return es_factor / z, float(special.ndtri(REPORT_CONFIDENCE)) / z


def _normal_tail(sigma: torch.Tensor, confidence: float) -> TailRisk:
    var = sigma * float(special.ndtri(confidence))
    es_ratio, var99_ratio = normal_ratios(confidence)
    return TailRisk(var, var * es_ratio, var * var99_ratio)


def _scenario_pnl(
    books: torch.Tensor, scenarios: torch.Tensor, scale: torch.Tensor | None
) -> torch.Tensor:
    """Scenario P&L ``[K, B, H]`` of ``books [K, B, N]`` on ``scenarios [B, N, H]`` (one batched
    matmul; the filtered model's volatility ``scale [B, N]`` multiplies the book, not the rows)."""
    w = books if scale is None else books * scale.to(books.dtype)
    pnl = torch.bmm(w.transpose(0, 1).contiguous(), scenarios.to(books.dtype))  # [B, K, H]
    return pnl.transpose(0, 1)  # a view: reductions over H run on the contiguous rows


def _sorted(x: torch.Tensor) -> torch.Tensor:
    """``x`` sorted along the last axis: numpy's sort on the CPU (~14x faster than torch's for
    many short rows), torch's elsewhere."""
    if x.device.type != "cpu":
        return torch.sort(x, dim=-1).values
    return torch.from_numpy(np.sort(x.detach().numpy(), axis=-1))


def _linear_quantile(ordered: torch.Tensor, tail: float) -> torch.Tensor:
    """``numpy.quantile(..., tail, method="linear")`` of sorted rows ``[..., H]``."""
    pos = (ordered.shape[-1] - 1) * tail
    j = int(math.floor(pos))
    g = pos - j
    upper = ordered[..., min(j + 1, ordered.shape[-1] - 1)]
    return ordered[..., j] + g * (upper - ordered[..., j])


def _historical_tail(pnl: torch.Tensor, confidence: float) -> TailRisk:
    """Linear-interpolated quantiles (``numpy.quantile`` default) and the mean of the ``j + 1``
    worst outcomes, ``j = floor((H - 1)(1 - c))``: the observations at or below the VaR quantile
    (ties aside), chosen by rank so that the ES of a scaled book is the scaled ES exactly."""
    ordered = _sorted(pnl)
    worst = int(math.floor((pnl.shape[-1] - 1) * (1.0 - confidence))) + 1
    es = -ordered[..., :worst].mean(-1)
    var = -_linear_quantile(ordered, 1.0 - confidence)
    return TailRisk(var, es, -_linear_quantile(ordered, 1.0 - REPORT_CONFIDENCE))


class _Moments(NamedTuple):
    sigma: torch.Tensor  # ddof=1 standard deviation
    skew: torch.Tensor  # population skewness (scipy.stats.skew, bias=True)
    kurt: torch.Tensor  # population excess kurtosis (scipy.stats.kurtosis, bias=True)


def _moments(pnl: torch.Tensor) -> _Moments:
    """Moments over the last axis; the sums of products are ``linalg.vecdot`` (no ``[.., H]``
    temporaries: each large one costs fresh pages, ~5x the arithmetic)."""
    h = pnl.shape[-1]
    d = pnl - pnl.mean(-1, keepdim=True)
    d2 = d * d
    m2 = d2.sum(-1) / h
    m3 = torch.linalg.vecdot(d2, d) / h
    m4 = torch.linalg.vecdot(d2, d2) / h
    flat = m2 <= 0.0  # a flat book (or no book): no shape, VaR 0
    safe = torch.where(flat, torch.ones_like(m2), m2)
    skew = torch.where(flat, torch.zeros_like(m2), m3 / safe**1.5)
    kurt = torch.where(flat, torch.zeros_like(m2), m4 / (safe * safe) - 3.0)
    sigma = (m2 * (h / max(h - 1, 1))).sqrt()
    return _Moments(sigma, skew, kurt)


def _cf_quantile(z: torch.Tensor | float, m: _Moments) -> torch.Tensor:
    """Cornish-Fisher standardised quantile at normal quantile(s) ``z``."""
    s, k = m.skew, m.kurt
    return (
        z
        + (z * z - 1.0) * s / 6.0
        + (z**3 - 3.0 * z) * k / 24.0
        - (2.0 * z**3 - 5.0 * z) * s * s / 36.0
    )


def _cornish_fisher_tail(m: _Moments, confidence: float) -> TailRisk:
    alpha = 1.0 - confidence
    z = float(special.ndtri(alpha))
    z99 = float(special.ndtri(1.0 - REPORT_CONFIDENCE))
    # ES: the mean of the CF quantile over the tail u < alpha, a polynomial in Z = Phi^-1(u):
    # the exact moments of a standard normal truncated above at z
    tail_density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) / alpha
    p1, p2, p3 = -tail_density, 1.0 - z * tail_density, -(z * z + 2.0) * tail_density
    s, k = m.skew, m.kurt
    es_q = (
        p1
        + (p2 - 1.0) * s / 6.0
        + (p3 - 3.0 * p1) * k / 24.0
        - (2.0 * p3 - 5.0 * p1) * s * s / 36.0
    )
    return TailRisk(-m.sigma * _cf_quantile(z, m), -m.sigma * es_q, -m.sigma * _cf_quantile(z99, m))


# ---------------------------------------------------------------------------- inputs
@dataclass
class VarTape:
    """The model inputs of every row of a dataset, gathered per decision row.

    ``returns [T, N]`` (float64 daily USD position returns, row 0 none), ``vol [T, N]`` (EWMA
    forecast made at each close), ``cov``/``ewma_cov [T, N, N]`` (the feature set's). Scenario
    models read the ``window`` returns ``t - window + 1 .. t`` of a decision at row ``t``: every
    window is laid out once, ``[T - window + 1, N, window]`` (the filtered model's hold the
    standardised returns ``r[s] / vol[s - 1]``), so a step gathers whole contiguous windows.
    """

    model: VarModel
    window: int
    returns: torch.Tensor
    vol: torch.Tensor
    cov: torch.Tensor
    ewma_cov: torch.Tensor

    def __post_init__(self) -> None:
        self._windows: torch.Tensor | None = None
        if not self.model.uses_covariance:
            r = self.returns.to(torch.float64)
            if self.model.method == "fhs":  # standardised by the forecast made the day before
                prev = torch.cat([self.vol[:1], self.vol[:-1]]).to(torch.float64)
                r = r / prev
            self._windows = r.unfold(0, self.window, 1).contiguous()  # [T - H + 1, N, H]

    def check_rows(self, first_row: int) -> None:
        """A scenario model needs ``window`` returns before every decision row ``>= first_row``."""
        if not self.model.uses_covariance and first_row < self.window:
            raise ConfigError(
                f"config risk.var_method={self.model.method!r} reads risk.var_window="
                f"{self.window} returns before a decision; the first decision row is {first_row} "
                f"(lower risk.var_window to <= {first_row}, or use a covariance method)"
            )

    def inputs(self, rows: torch.Tensor) -> VarInputs:
        """The inputs of decisions at ``rows [B]`` (long)."""
        method = self.model.method
        if method == "parametric":
            return VarInputs(self.cov[rows], None)
        if method == "ewma":
            return VarInputs(self.ewma_cov[rows], None)
        assert self._windows is not None
        start = (rows - (self.window - 1)).clamp_min(0)  # check_rows keeps rows >= window
        scen = self._windows.index_select(0, start)  # [B, N, H]
        scale = self.vol[rows].to(torch.float64) if method == "fhs" else None
        return VarInputs(None, scen, scale)

    def to(self, device: torch.device | str) -> VarTape:
        return VarTape(
            self.model,
            self.window,
            self.returns.to(device),
            self.vol.to(device),
            self.cov.to(device),
            self.ewma_cov.to(device),
        )


def ewma_covariance(returns: torch.Tensor, lam: float = EWMA_LAMBDA) -> torch.Tensor:
    """RiskMetrics covariance ``[N, N]`` after the rows of ``returns [H, N]``: ``sum (1 - lam)
    lam^(H-1-s) r_s r_s' / (1 - lam^H)`` (zero mean, start-up bias removed), the last row of what
    the feature set's ``ewma_cov`` computes over a whole history."""
    r = returns.to(torch.float64)
    h = r.shape[0]
    decay = lam ** torch.arange(h - 1, -1, -1, dtype=torch.float64, device=r.device)
    return (r * ((1.0 - lam) * decay)[:, None]).T @ r / (1.0 - lam**h)


def inputs_from_history(model: VarModel, returns: torch.Tensor) -> VarInputs:
    """The inputs of one book from a returns window ``[H, N]`` (a live caller's history, as
    :class:`~mtquant.risk_management.portfolio_risk_manager.PortfolioRiskManager` stores it):
    the sample covariance (``parametric``), the EWMA covariance (``ewma``), the rows themselves
    (``historical``, ``cornish_fisher``, ``auto``) or, for ``fhs``, rows 1.. rescaled by the EWMA
    volatility of the window (row 0 starts the recursion)."""
    r = returns.to(torch.float64)
    if model.method == "parametric":
        return VarInputs(torch.cov(r.T)[None], None)
    if model.method == "ewma":
        return VarInputs(ewma_covariance(r)[None], None)
    if model.method != "fhs":
        return VarInputs(None, r.T[None])
    if r.shape[0] < 3:
        raise DataError(f"filtered historical VaR needs >= 3 return rows; got {r.shape[0]}")
    var = torch.empty_like(r)  # var[s]: EWMA forecast made at the close of s
    var[0] = r[0] * r[0]
    for s in range(1, r.shape[0]):
        var[s] = EWMA_LAMBDA * var[s - 1] + (1.0 - EWMA_LAMBDA) * r[s] * r[s]
    vol = var.sqrt().clamp_min(VOL_FLOOR)
    return VarInputs(None, (r[1:] / vol[:-1]).T[None], vol[-1][None])
