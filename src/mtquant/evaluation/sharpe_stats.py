"""How much to trust a Sharpe ratio: PSR, Deflated Sharpe, stationary-bootstrap intervals.

Conventions:

- Inside PSR / DSR the Sharpe ratio is *per period* (daily, not annualised): ``SR = mean / std``
  with ``ddof=1``; skewness ``g3`` and kurtosis ``g4`` are the population (biased) moments, and
  ``g4`` is the plain kurtosis (3 for a normal), not the excess kurtosis.
- PSR (Bailey & Lopez de Prado 2012):
  ``PSR(SR*) = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))``.
- DSR (Bailey & Lopez de Prado 2014) is PSR against the Sharpe the best of ``N`` skill-less
  trials is expected to reach: ``E[max] = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N)
  + gamma Phi^-1(1 - 1/(N e)))``, gamma the Euler-Mascheroni constant, ``V`` the variance of the
  trials' per-period Sharpes. ``E[max] = 0`` for a single trial (nothing to deflate).
- The bootstrap is the stationary bootstrap of Politis & Romano (1994), drawn by
  ``arch.bootstrap.StationaryBootstrap``: blocks start at uniform positions, their lengths are
  geometric with mean ``mean_block``, and wrap around the end of the series. The default mean
  block length is Politis & White's (2004, corrected 2009) optimal one for the stationary
  bootstrap (``arch.bootstrap.optimal_block_length``), the largest over the series and their
  squares (a Sharpe ratio depends on the mean and the variance, and volatility clusters),
  rounded to whole days and kept within ``[1, ceil(sqrt(n))]`` (the estimator is noisy on a
  6-month test; ``sqrt(n)`` is arch's own default block for the SPA test). Under 16 days, or when
  the estimate is not finite (a constant series), it is ``n ** (1/3)``, the usual rate for block
  bootstraps of means. Intervals are percentile intervals of the *annualised* Sharpe; the draws
  come from ``numpy.random.default_rng(seed)``, so a seed gives the same interval every time.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from arch.bootstrap import StationaryBootstrap, optimal_block_length
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from mtquant.errors import DataError
from mtquant.evaluation.metrics import PERIODS_PER_YEAR, as_returns, sharpe_ratio

EULER_GAMMA = float(np.euler_gamma)


def sharpe_moments(returns: ArrayLike) -> tuple[float | None, float, float]:
    """(per-period SR, skewness g3, non-excess kurtosis g4); a constant series has g3=0, g4=3."""
    r = as_returns(returns)
    sr = sharpe_ratio(r, periods=1)
    if r.size < 2 or np.ptp(r) == 0.0:
        return sr, 0.0, 3.0
    return sr, float(stats.skew(r, bias=True)), float(stats.kurtosis(r, fisher=False, bias=True))


def probabilistic_sharpe_ratio(returns: ArrayLike, sr_benchmark: float = 0.0) -> float | None:
    """Probability that the true per-period Sharpe exceeds ``sr_benchmark`` (per period).

    ``None`` when the Sharpe itself is undefined (fewer than 2 days, constant non-zero returns).
    """
    r = as_returns(returns)
    sr, g3, g4 = sharpe_moments(r)
    if sr is None:
        return None
    var_term = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr**2  # >= (1 - g3 SR / 2)^2 >= 0
    if var_term <= 0.0:
        return None
    z = (sr - sr_benchmark) * np.sqrt(r.size - 1) / np.sqrt(var_term)
    return float(stats.norm.cdf(z))


def expected_max_sharpe(sr_variance: float, n_trials: int) -> float:
    """Expected per-period Sharpe of the best of ``n_trials`` skill-less trials."""
    if n_trials < 1:
        raise DataError(f"n_trials: expected >= 1 configuration tried, got {n_trials!r}")
    if not np.isfinite(sr_variance) or sr_variance < 0.0:
        raise DataError(f"sr_variance: expected a finite variance >= 0, got {sr_variance!r}")
    if n_trials == 1:
        return 0.0
    z1 = stats.norm.ppf(1.0 - 1.0 / n_trials)
    z2 = stats.norm.ppf(1.0 - 1.0 / (n_trials * np.e))
    return float(np.sqrt(sr_variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))


def deflated_sharpe_ratio(
    returns: ArrayLike, n_trials: int, trial_sharpe_variance: float | None = None
) -> float | None:
    """PSR against ``E[max]`` of ``n_trials`` configurations.

    ``trial_sharpe_variance`` is the variance of the trials' per-period Sharpes; when the trials
    were not kept, the default is ``1 / (n - 1)``, the sampling variance of a per-period Sharpe
    of n normal returns with no skill, i.e. what skill-less trials would scatter by.
    """
    r = as_returns(returns)
    if r.size < 2:
        return None
    v = 1.0 / (r.size - 1) if trial_sharpe_variance is None else trial_sharpe_variance
    return probabilistic_sharpe_ratio(r, expected_max_sharpe(v, n_trials))


def stationary_bootstrap_indices(
    n: int, n_boot: int, mean_block: float, rng: np.random.Generator
) -> NDArray[np.int64]:
    """``[n_boot, n]`` resampling indices of arch's stationary bootstrap with mean block length
    ``mean_block`` (rounded to whole days, at least 1), drawn from ``rng``."""
    if n < 1 or n_boot < 1 or not mean_block >= 1.0:
        raise DataError(
            f"bootstrap: need n >= 1, n_boot >= 1, mean_block >= 1; got {n}, {n_boot}, {mean_block}"
        )
    bs = StationaryBootstrap(max(1, round(mean_block)), np.arange(n), seed=rng)
    return np.stack([np.asarray(pos[0], dtype=np.int64) for pos, _ in bs.bootstrap(n_boot)])


MIN_DAYS_FOR_OPTIMAL_BLOCK = 16  # below this the Politis-White estimate is meaningless


def stationary_block_length(series: ArrayLike) -> int:
    """Mean block length (days) for a stationary bootstrap of ``series`` ``[T]`` or ``[T, k]``
    (module doc): Politis-White's optimal one over the columns and their squares, in
    ``[1, ceil(sqrt(T))]``; ``T ** (1/3)`` under 16 days or for a degenerate estimate."""
    x = np.asarray(series, dtype=np.float64)
    x = x.reshape(x.shape[0], -1)
    n = int(x.shape[0])
    fallback = max(1, round(math.pow(n, 1.0 / 3.0)))
    if n < MIN_DAYS_FOR_OPTIMAL_BLOCK:
        return fallback
    cols = np.hstack([x, (x - x.mean(axis=0)) ** 2])
    cols = cols[:, np.ptp(cols, axis=0) > 0.0]  # a constant column has no dependence to measure
    if cols.shape[1] == 0:
        return fallback
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        block = float(optimal_block_length(cols)["stationary"].max())
    if not math.isfinite(block):
        return fallback
    return int(min(max(1, round(block)), math.ceil(math.sqrt(n))))


def _annualised_sharpes(samples: NDArray[np.float64], periods: int) -> NDArray[np.float64]:
    """Row-wise Sharpe ``[B]``; rows with zero spread get 0.0 (mean 0) or NaN (undefined)."""
    mean = samples.mean(axis=1)
    std = samples.std(axis=1, ddof=1)
    flat = np.ptp(samples, axis=1) == 0.0
    safe = np.where(flat, 1.0, std)
    out = np.where(flat, np.where(mean == 0.0, 0.0, np.nan), mean / safe)
    annualised: NDArray[np.float64] = np.asarray(out * np.sqrt(periods), dtype=np.float64)
    return annualised


def _percentile_interval(values: NDArray[np.float64], alpha: float) -> tuple[float, float] | None:
    ok = values[np.isfinite(values)]
    if ok.size < values.size / 2:  # most resamples undefined: no honest interval
        return None
    lo, hi = np.quantile(ok, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _resample_days(
    series: NDArray[np.float64], n_boot: int, mean_block: float | None, seed: int
) -> NDArray[np.int64]:
    """Seeded stationary-bootstrap day indices for ``series`` ``[T]`` or ``[T, k]`` (paired
    columns share the days); mean block from :func:`stationary_block_length` unless given."""
    block = stationary_block_length(series) if mean_block is None else mean_block
    return stationary_bootstrap_indices(series.shape[0], n_boot, block, np.random.default_rng(seed))


def bootstrap_sharpe_ci(
    returns: ArrayLike,
    n_boot: int = 2000,
    alpha: float = 0.05,
    mean_block: float | None = None,
    periods: int = PERIODS_PER_YEAR,
    seed: int = 0,
) -> tuple[float, float] | None:
    """(low, high) percentile interval of the annualised Sharpe at level 1 - alpha.

    ``None`` for fewer than 3 returns or when most resamples have an undefined Sharpe.
    """
    r = as_returns(returns)
    if r.size < 3:
        return None
    idx = _resample_days(r, n_boot, mean_block, seed)
    return _percentile_interval(_annualised_sharpes(r[idx], periods), alpha)


def bootstrap_sharpe_difference_ci(
    returns_a: ArrayLike,
    returns_b: ArrayLike,
    n_boot: int = 2000,
    alpha: float = 0.05,
    mean_block: float | None = None,
    periods: int = PERIODS_PER_YEAR,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Interval of Sharpe(a) - Sharpe(b) from a *paired* stationary bootstrap (same days drawn
    for both series), so the common market moves cancel; both series must share dates."""
    a = as_returns(returns_a, "returns_a")
    b = as_returns(returns_b, "returns_b")
    if a.shape != b.shape:
        raise DataError(
            f"paired bootstrap: series of {a.size} and {b.size} days; need the same days"
        )
    if a.size < 3:
        return None
    idx = _resample_days(np.column_stack([a, b]), n_boot, mean_block, seed)
    diff = _annualised_sharpes(a[idx], periods) - _annualised_sharpes(b[idx], periods)
    return _percentile_interval(diff, alpha)
