"""Value at Risk and expected shortfall: pure, vectorised functions over numpy or torch.

Conventions (every function in this module):

- VaR and ES are positive numbers: the loss as a fraction of portfolio value (0.02 = a loss of
  2 % of equity). A book whose tail quantile is a gain gets a negative VaR; nothing is clipped.
- ``confidence`` is the coverage: 0.95 means the 5 % tail (tail probability 0.05); it must lie
  in the open interval (0, 1). In code the tail probability is ``1 - confidence``.
- ``returns`` is ``[T, N]`` daily simple returns (rows = days, columns = instruments, no NaN);
  ``weights`` is ``[N]`` (notional / equity, signed) or batched ``[B, N]``. The portfolio
  return of day t is ``r_t = returns[t] @ w``.
- One portfolio gives a Python ``float`` for numpy input and a 0-d tensor for torch input;
  a batch gives an array / tensor ``[B]``. Numpy in, numpy out; torch in, torch out.
- Parametric (variance-covariance): ``VaR = z * sqrt(w' S w) - (w' mu if mean else 0)`` with
  ``z = scipy.stats.norm.ppf(confidence)`` (evaluated as ``scipy.special.ndtri``, the same
  function), ``S`` the sample covariance with ddof=1 and ``mu`` the sample mean. ``sqrt(w' S w)``
  is computed as the ddof=1 standard deviation of ``r_t``, which is the same number.
- Historical: ``VaR = -numpy.quantile(r, 1 - confidence, method="linear")``; the torch path
  uses ``torch.quantile(..., interpolation="linear")``, the same definition.
- Monte Carlo: ``n_sims`` draws ``x = mu * [mean] + A z`` from N(mu or 0, S) with
  ``A = V diag(sqrt(max(lambda, 0)))`` from the eigendecomposition ``S = V diag(lambda) V'``
  (survives singular covariances; tiny negative eigenvalues from rounding are clipped to 0),
  using a seeded ``numpy.random.Generator`` / ``torch.Generator``; VaR is the historical VaR
  of the simulated portfolio returns. ``mean`` defaults to False as in the parametric method.
- Expected shortfall: parametric ``ES = sigma * phi(z) / tail - (w' mu if mean else 0)`` with
  tail = 0.05 at 95 %; historical and Monte Carlo ``ES = -mean{ r : r <= q }`` where ``q`` is
  the linear quantile at the tail probability (``q = -VaR``), so the tail set holds every
  observation at or below the VaR quantile and is never empty.
- Confidence bounds (:func:`var_with_interval`, coverage ``level``): parametric uses the
  asymptotic normal-theory standard error ``sigma / sqrt(2 (T - 1))`` of the sample standard
  deviation (plus ``sigma^2 / T`` for the mean when ``mean=True``); historical uses the
  distribution-free order-statistic interval (ranks from Binomial(T, tail)), coverage at least
  ``level``; Monte Carlo reports the simulation error only, ``sigma * sqrt(p (1 - p) / n) /
  phi(z)`` around the simulated VaR.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar, cast

import numpy as np
import torch
from scipy import special, stats

from mtquant.errors import DataError

Array = TypeVar("Array", np.ndarray, torch.Tensor)
Method = Literal["parametric", "historical", "monte_carlo"]
Generator = np.random.Generator | torch.Generator | int | None
_METHODS = ("parametric", "historical", "monte_carlo")


# ---------------------------------------------------------------------------- validation
def check_confidence(confidence: float, name: str = "confidence") -> float:
    """Return ``confidence`` as a float after checking it lies in (0, 1)."""
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise DataError(f"{name} must lie in (0, 1) (coverage, 0.95 = 5% tail); got {confidence!r}")
    return c


def z_score(confidence: float) -> float:
    """Standard normal quantile at ``confidence`` (= ``scipy.stats.norm.ppf``, faster)."""
    return float(special.ndtri(check_confidence(confidence)))


def _check_returns(returns: np.ndarray | torch.Tensor, min_rows: int = 2) -> None:
    if returns.ndim != 2:
        raise DataError(f"returns must be [T, N] (rows = days); got shape {tuple(returns.shape)}")
    if returns.shape[0] < min_rows:
        raise DataError(
            f"returns has {returns.shape[0]} rows; at least {min_rows} observations are needed"
        )
    if isinstance(returns, torch.Tensor):
        if not returns.is_floating_point():
            raise DataError(f"returns must be a floating tensor; got dtype {returns.dtype}")
        bad = ~torch.isfinite(returns).all(dim=1)
        if bool(bad.any()):
            row = int(torch.nonzero(bad)[0, 0])
            raise DataError(f"returns row {row} is not finite: {returns[row].tolist()}")
    elif not np.isfinite(returns).all():
        row = int(np.flatnonzero(~np.isfinite(returns).all(axis=1))[0])
        raise DataError(f"returns row {row} is not finite: {returns[row].tolist()}")


def _check_weights(weights: np.ndarray | torch.Tensor, n: int) -> bool:
    """Validate ``[N]`` / ``[B, N]`` weights; return True when batched."""
    if weights.ndim not in (1, 2) or weights.shape[-1] != n:
        raise DataError(
            f"weights must be [N] or [B, N] with N = {n} instruments; got shape "
            f"{tuple(weights.shape)}"
        )
    finite = (
        torch.isfinite(weights).all()
        if isinstance(weights, torch.Tensor)
        else (np.isfinite(weights).all())
    )
    if not bool(finite):
        raise DataError(f"weights must be finite; got {weights.tolist()}")
    return weights.ndim == 2


def _as_pair(returns: Array, weights: Array) -> tuple[Array, Array]:
    """Bring ``returns`` and ``weights`` to the same library, dtype and device."""
    if isinstance(returns, torch.Tensor):
        w = torch.as_tensor(weights, dtype=returns.dtype, device=returns.device)
        return returns, w  # type: ignore[return-value]
    if isinstance(weights, torch.Tensor):
        raise DataError("returns is a numpy array but weights is a torch tensor; use one library")
    return np.asarray(returns, dtype=np.float64), np.asarray(weights, dtype=np.float64)  # type: ignore[return-value]


def check_covariance(cov: np.ndarray | torch.Tensor, name: str = "cov", tol: float = 1e-10) -> None:
    """Raise :class:`DataError` unless ``cov`` (``[N, N]`` or ``[B, N, N]``) is finite,
    symmetric and positive semi-definite up to ``tol`` relative to its largest eigenvalue."""
    if cov.ndim not in (2, 3) or cov.shape[-1] != cov.shape[-2]:
        raise DataError(f"{name} must be [N, N] or [B, N, N]; got shape {tuple(cov.shape)}")
    if isinstance(cov, torch.Tensor):
        c = cov.detach().to("cpu", torch.float64).numpy()
    else:
        c = np.asarray(cov, dtype=np.float64)
    if not np.isfinite(c).all():
        raise DataError(f"{name} has non-finite entries")
    scale = max(float(np.abs(c).max()), 1e-300)
    asym = float(np.abs(c - np.swapaxes(c, -1, -2)).max())
    if asym > tol * scale:
        raise DataError(f"{name} is not symmetric: max |S - S'| = {asym:.3g}")
    eig = np.linalg.eigvalsh(c)
    lo, hi = float(eig.min()), float(np.abs(eig).max())
    if lo < -tol * max(hi, 1e-300):
        raise DataError(f"{name} is not positive semi-definite: smallest eigenvalue {lo:.3g}")


# ---------------------------------------------------------------------------- helpers
def _portfolio_returns(returns: Array, weights: Array) -> Array:
    """``[T]`` for ``[N]`` weights, ``[T, B]`` for ``[B, N]`` weights."""
    return cast(Array, returns @ weights.T if weights.ndim == 2 else returns @ weights)


def _out(x: Array, batched: bool) -> Array | float:
    if isinstance(x, torch.Tensor) or batched:
        return x
    return float(x)


def _std(p: Array) -> Array:
    """ddof=1 standard deviation along axis 0."""
    pc = p - p.mean(0)
    return cast(Array, ((pc * pc).sum(0) / (p.shape[0] - 1)) ** 0.5)


def _quantile(p: Array, q: float) -> Array:
    if isinstance(p, torch.Tensor):
        return torch.quantile(p, q, dim=0, interpolation="linear")
    return cast(Array, np.quantile(p, q, axis=0, method="linear"))


def _tail_mean(p: Array, q: Array) -> Array:
    """Mean of the ``p`` at or below ``q`` along axis 0 (``q`` is an order-statistic blend)."""
    if isinstance(p, torch.Tensor):
        # the minimum is always in the tail (guards against rounding of the interpolation)
        m = ((p <= q) | (p == p.amin(0))).to(p.dtype)
    else:
        m = ((p <= q) | (p == p.min(0))).astype(p.dtype)
    return cast(Array, (p * m).sum(0) / m.sum(0))


def _covariance(returns: Array) -> tuple[Array, Array]:
    """Sample mean ``[N]`` and covariance (ddof=1) ``[N, N]``."""
    mu = returns.mean(0)
    xc = returns - mu
    return mu, xc.T @ xc / (returns.shape[0] - 1)


def _make_generator(generator: Generator, like: Array) -> np.random.Generator | torch.Generator:
    if isinstance(like, torch.Tensor):
        if isinstance(generator, torch.Generator):
            return generator
        if isinstance(generator, np.random.Generator):
            raise DataError("torch returns need a torch.Generator (or an int seed)")
        return torch.Generator(device=like.device).manual_seed(int(generator or 0))
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, torch.Generator):
        raise DataError("numpy returns need a numpy Generator (or an int seed)")
    return np.random.default_rng(int(generator or 0))


def _simulate(
    returns: Array, weights: Array, n_sims: int, generator: Generator, mean: bool
) -> tuple[Any, Any]:
    """Simulated portfolio returns ``[n_sims]`` / ``[n_sims, B]`` and model sigma ``[.]/[B]``."""
    if int(n_sims) < 2:
        raise DataError(f"n_sims must be >= 2; got {n_sims!r}")
    mu, cov = _covariance(returns)
    n = returns.shape[1]
    gen = _make_generator(generator, returns)
    if isinstance(returns, torch.Tensor):
        lam, vec = torch.linalg.eigh(cov)
        a = vec * lam.clamp(min=0.0).sqrt()
        assert isinstance(gen, torch.Generator)
        z = torch.randn(int(n_sims), n, generator=gen, dtype=returns.dtype, device=returns.device)
    else:
        lam, vec = np.linalg.eigh(cov)
        a = vec * np.sqrt(np.clip(lam, 0.0, None))
        assert isinstance(gen, np.random.Generator)
        z = gen.standard_normal((int(n_sims), n))
    # portfolio returns of the draws x = mu + A z: r = z (A' w) + mu' w, without forming x
    wt = weights.T if weights.ndim == 2 else weights  # [N, B] or [N]
    sims = z @ (a.T @ wt)
    if mean:
        sims = sims + mu @ wt
    quad = ((weights @ cov) * weights).sum(-1)
    sigma = (
        quad.clamp(min=0.0) ** 0.5
        if isinstance(quad, torch.Tensor)
        else np.sqrt(np.maximum(quad, 0.0))
    )
    return sims, sigma


def _prepare(returns: Array, weights: Array, confidence: float) -> tuple[Array, Array, bool]:
    check_confidence(confidence)
    returns, weights = _as_pair(returns, weights)
    _check_returns(returns)
    batched = _check_weights(weights, returns.shape[1])
    return returns, weights, batched


# ---------------------------------------------------------------------------- VaR
def parametric_var(
    returns: Array, weights: Array, confidence: float = 0.95, mean: bool = False
) -> Array | float:
    """Variance-covariance VaR ``z * sigma_p - (mean ? mu_p : 0)`` (module conventions)."""
    returns, weights, batched = _prepare(returns, weights, confidence)
    p = _portfolio_returns(returns, weights)
    var = z_score(confidence) * _std(p)
    if mean:
        var = var - p.mean(0)
    return _out(var, batched)


def historical_var(returns: Array, weights: Array, confidence: float = 0.95) -> Array | float:
    """Historical-simulation VaR ``-quantile(r, 1 - confidence, linear)``."""
    returns, weights, batched = _prepare(returns, weights, confidence)
    p = _portfolio_returns(returns, weights)
    return _out(-_quantile(p, 1.0 - confidence), batched)


def monte_carlo_var(
    returns: Array,
    weights: Array,
    confidence: float = 0.95,
    n_sims: int = 10_000,
    generator: Generator = None,
    mean: bool = False,
) -> Array | float:
    """Monte Carlo VaR from ``n_sims`` normal draws (seed 0 when ``generator`` is None)."""
    returns, weights, batched = _prepare(returns, weights, confidence)
    sims, _ = _simulate(returns, weights, n_sims, generator, mean)
    return _out(-_quantile(sims, 1.0 - confidence), batched)


def expected_shortfall(
    returns: Array,
    weights: Array,
    confidence: float = 0.95,
    method: Method = "parametric",
    mean: bool = False,
    n_sims: int = 10_000,
    generator: Generator = None,
) -> Array | float:
    """Expected shortfall (mean loss in the tail) by ``method``; see the module conventions."""
    if method not in _METHODS:
        raise DataError(f"method must be one of {_METHODS}; got {method!r}")
    returns, weights, batched = _prepare(returns, weights, confidence)
    tail = 1.0 - confidence
    if method == "parametric":
        p = _portfolio_returns(returns, weights)
        z = z_score(confidence)
        es = _std(p) * (float(stats.norm.pdf(z)) / tail)
        if mean:
            es = es - p.mean(0)
        return _out(es, batched)
    if method == "historical":
        p = _portfolio_returns(returns, weights)
    else:
        p, _ = _simulate(returns, weights, n_sims, generator, mean)
    q = _quantile(p, tail)
    return _out(-_tail_mean(p, q), batched)


def var_with_interval(
    returns: Array,
    weights: Array,
    confidence: float = 0.95,
    method: Method = "parametric",
    level: float = 0.95,
    mean: bool = False,
    n_sims: int = 10_000,
    generator: Generator = None,
) -> tuple[Array | float, Array | float, Array | float]:
    """``(var, lower, upper)``: the VaR estimate and its ``level`` confidence bounds."""
    if method not in _METHODS:
        raise DataError(f"method must be one of {_METHODS}; got {method!r}")
    check_confidence(level, "level")
    returns, weights, batched = _prepare(returns, weights, confidence)
    t = returns.shape[0]
    tail = 1.0 - confidence
    z = z_score(confidence)
    k = float(special.ndtri(0.5 + level / 2.0))
    if method == "parametric":
        p = _portfolio_returns(returns, weights)
        sigma = _std(p)
        var = z * sigma
        se2 = (z * sigma) ** 2 / (2.0 * (t - 1))
        if mean:
            var = var - p.mean(0)
            se2 = se2 + sigma**2 / t
        lower, upper = var - k * se2**0.5, var + k * se2**0.5
    elif method == "historical":
        p = _portfolio_returns(returns, weights)
        var = -_quantile(p, tail)
        alpha = 1.0 - level
        r = max(int(stats.binom.ppf(alpha / 2.0, t, tail)), 1)
        s = min(int(stats.binom.ppf(1.0 - alpha / 2.0, t, tail)) + 1, t)
        srt = torch.sort(p, dim=0).values if isinstance(p, torch.Tensor) else np.sort(p, axis=0)
        lower, upper = -srt[s - 1], -srt[r - 1]
    else:
        sims, sigma = _simulate(returns, weights, n_sims, generator, mean)
        var = -_quantile(sims, tail)
        se = sigma * ((tail * (1.0 - tail) / int(n_sims)) ** 0.5 / float(stats.norm.pdf(z)))
        lower, upper = var - k * se, var + k * se
    return _out(var, batched), _out(lower, batched), _out(upper, batched)


def var_confidence_interval(
    returns: Array,
    weights: Array,
    confidence: float = 0.95,
    method: Method = "parametric",
    level: float = 0.95,
    mean: bool = False,
    n_sims: int = 10_000,
    generator: Generator = None,
) -> tuple[Array | float, Array | float]:
    """``(lower, upper)`` bounds of the VaR estimate at coverage ``level`` (see module doc)."""
    _, lower, upper = var_with_interval(
        returns, weights, confidence, method, level, mean, n_sims, generator
    )
    return lower, upper


# ---------------------------------------------------------------------------- from a covariance
def quad_form(weights: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """``w' S w`` for ``weights [B, N]`` and ``cov [B, N, N]`` or ``[N, N]`` → ``[B]``."""
    if cov.ndim == 2:
        return ((weights @ cov) * weights).sum(-1)
    return (torch.bmm(cov, weights.unsqueeze(-1)).squeeze(-1) * weights).sum(-1)


def portfolio_var_from_cov(
    weights: np.ndarray | torch.Tensor,
    cov: np.ndarray | torch.Tensor,
    confidence: float = 0.95,
    validate: bool = True,
) -> np.ndarray | torch.Tensor | float:
    """Parametric zero-mean VaR ``z * sqrt(w' S w)`` from a given covariance.

    ``weights`` ``[N]`` or ``[B, N]``; ``cov`` ``[N, N]`` or ``[B, N, N]`` (shared or per book).
    ``validate`` checks that ``cov`` is finite, symmetric and PSD (skip it in hot paths whose
    covariance is built from data). Rounding-level negative ``w' S w`` is clamped to 0.
    """
    z = z_score(confidence)
    if validate:
        check_covariance(cov)
    n = cov.shape[-1]
    is_torch = isinstance(cov, torch.Tensor) or isinstance(weights, torch.Tensor)
    c: Any
    w: Any
    if is_torch:
        c = torch.as_tensor(cov)
        w = torch.as_tensor(weights, dtype=c.dtype, device=c.device)
    else:
        c, w = np.asarray(cov, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    batched = _check_weights(w, n) or c.ndim == 3
    if c.ndim == 3 and w.ndim == 2 and w.shape[0] != c.shape[0]:
        raise DataError(f"weights batch {w.shape[0]} does not match cov batch {c.shape[0]}")
    if is_torch:
        w2 = w if w.ndim == 2 else w.expand(c.shape[0] if c.ndim == 3 else 1, n)
        out = z * quad_form(w2, c).clamp(min=0.0).sqrt()
        return out if batched else out[0]
    quad = np.einsum("...i,...ij,...j->...", w, c, w)
    out_np = z * np.sqrt(np.maximum(quad, 0.0))
    return out_np if batched else float(out_np)
