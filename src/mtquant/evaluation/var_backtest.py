"""Backtests of ex-ante VaR and ES forecasts: breaches, Kupiec POF, Christoffersen tests, and the
realised loss against the forecast Expected Shortfall on breach days.

Conventions:

- ``var_forecasts[t]`` is the *positive* VaR (fraction of equity) forecast for day t with data up
  to day t-1; ``es_forecasts[t]`` likewise the positive Expected Shortfall at the same
  confidence; ``realised_returns[t]`` is day t's simple return.
- A breach is a loss strictly beyond the VaR: ``-r_t > VaR_t``.
- ``coverage`` is the VaR confidence (0.95); the expected breach rate is ``p = 1 - coverage``.
- Likelihoods use ``0 * log(0) = 0`` (the limit as the probability goes to 0), so samples with
  no breaches, only breaches, or no transitions of a kind give finite statistics, never NaN.
  Statistics are clipped at 0 against rounding; p-values come from the chi-square survival
  function.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.special import xlogy

from mtquant.errors import DataError
from mtquant.evaluation.metrics import as_returns


def var_breaches(realised_returns: ArrayLike, var_forecasts: ArrayLike) -> NDArray[np.bool_]:
    """``[T]`` bool: True where the loss strictly exceeded the ex-ante VaR (-r_t > VaR_t)."""
    r = as_returns(realised_returns, "realised_returns")
    v = np.asarray(var_forecasts, dtype=np.float64)
    if v.shape != r.shape:
        raise DataError(f"var_forecasts: shape {v.shape} does not match returns {r.shape}")
    bad = ~np.isfinite(v) | (v < 0.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"var_forecasts: expected a finite VaR >= 0 at position {i}, got {v[i]!r}")
    return -r > v


def _as_hits(breaches: ArrayLike) -> NDArray[np.bool_]:
    b = np.asarray(breaches)
    if b.ndim != 1 or b.size == 0:
        raise DataError(f"breaches: expected a non-empty 1-D hit sequence, got shape {b.shape}")
    if b.dtype != np.bool_ and not np.isin(b, (0, 1)).all():
        raise DataError("breaches: expected booleans or 0/1 values")
    return b.astype(bool)


def _check_coverage(coverage: float) -> float:
    if not 0.0 < coverage < 1.0:
        raise DataError(f"coverage: expected a VaR confidence in (0, 1), got {coverage!r}")
    return 1.0 - coverage


def _bernoulli_loglik(n_hit: float, n_miss: float, p: float) -> float:
    """log L = n_miss log(1 - p) + n_hit log p, with 0 log 0 = 0."""
    return float(xlogy(n_miss, 1.0 - p) + xlogy(n_hit, p))


def kupiec_pof(breaches: ArrayLike, coverage: float) -> tuple[float, float]:
    """Kupiec (1995) proportion-of-failures test: (LR_pof, p-value from chi2(1)).

    LR_pof = -2 [log L(p) - log L(x/n)] with x breaches in n days and p = 1 - coverage.
    """
    b = _as_hits(breaches)
    p = _check_coverage(coverage)
    n, x = b.size, int(b.sum())
    lr = -2.0 * (_bernoulli_loglik(x, n - x, p) - _bernoulli_loglik(x, n - x, x / n))
    lr = lr if lr > 0.0 else 0.0
    return lr, float(stats.chi2.sf(lr, df=1))


def transition_counts(breaches: ArrayLike) -> tuple[int, int, int, int]:
    """(n00, n01, n10, n11): day-to-day transitions, n_ij = #(hit_{t-1} = i, hit_t = j)."""
    b = _as_hits(breaches).astype(np.int64)
    if b.size < 2:
        raise DataError("breaches: the independence test needs at least 2 days")
    codes = 2 * b[:-1] + b[1:]
    n00, n01, n10, n11 = (int(c) for c in np.bincount(codes, minlength=4))
    return n00, n01, n10, n11


def christoffersen_independence(breaches: ArrayLike) -> tuple[float, float]:
    """Christoffersen (1998) independence test: (LR_ind, p-value from chi2(1)).

    First-order Markov alternative: pi01 = n01 / (n00 + n01), pi11 = n11 / (n10 + n11) against
    one rate pi = (n01 + n11) / (n - 1). A state never visited (e.g. no breach before the last
    day) contributes nothing to either likelihood.
    """
    n00, n01, n10, n11 = transition_counts(breaches)
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    log_markov = _bernoulli_loglik(n01, n00, pi01) + _bernoulli_loglik(n11, n10, pi11)
    log_iid = _bernoulli_loglik(n01 + n11, n00 + n10, pi)
    lr = -2.0 * (log_iid - log_markov)
    lr = lr if lr > 0.0 else 0.0
    return lr, float(stats.chi2.sf(lr, df=1))


def christoffersen_conditional_coverage(
    breaches: ArrayLike, coverage: float
) -> tuple[float, float]:
    """Conditional coverage: (LR_cc = LR_pof + LR_ind, p-value from chi2(2))."""
    lr_pof, _ = kupiec_pof(breaches, coverage)
    lr_ind, _ = christoffersen_independence(breaches)
    lr = lr_pof + lr_ind
    return lr, float(stats.chi2.sf(lr, df=2))


def _check_forecast(name: str, v: NDArray[np.float64], shape: tuple[int, ...]) -> None:
    if v.shape != shape:
        raise DataError(f"{name}: shape {v.shape} does not match returns {shape}")
    bad = ~np.isfinite(v) | (v < 0.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{name}: expected a finite value >= 0 at position {i}, got {v[i]!r}")


def es_backtest(
    realised_returns: ArrayLike, var_forecasts: ArrayLike, es_forecasts: ArrayLike
) -> dict[str, Any]:
    """Realised loss against the forecast ES on the VaR-breach days.

    If the ES forecasts are calibrated, the mean loss on the days the VaR was breached is close
    to the mean ES forecast of those days (ratio ~1; above 1: the tail is worse than forecast).
    Returns ``{"breach_days", "mean_breach_loss", "mean_es_forecast", "loss_to_es_ratio"}``
    (losses positive); the means are ``None`` without a breach, the ratio also when the mean ES
    is 0.
    """
    hits = var_breaches(realised_returns, var_forecasts)
    r = as_returns(realised_returns, "realised_returns")
    es = np.asarray(es_forecasts, dtype=np.float64)
    _check_forecast("es_forecasts", es, r.shape)
    k = int(hits.sum())
    loss = float(np.mean(-r[hits])) if k else None
    mean_es = float(np.mean(es[hits])) if k else None
    ratio = None if loss is None or not mean_es else loss / mean_es
    return {
        "breach_days": k,
        "mean_breach_loss": loss,
        "mean_es_forecast": mean_es,
        "loss_to_es_ratio": ratio,
    }


def var_backtest(
    realised_returns: ArrayLike, var_forecasts: ArrayLike, coverage: float
) -> dict[str, Any]:
    """All of the above in one JSON-ready dict (days, breaches, rates, LR statistics, p-values)."""
    hits = var_breaches(realised_returns, var_forecasts)
    out: dict[str, Any] = {
        "days": int(hits.size),
        "breaches": int(hits.sum()),
        "breach_rate": float(hits.mean()),
        "expected_rate": 1.0 - coverage,
    }
    out["kupiec_lr"], out["kupiec_p"] = kupiec_pof(hits, coverage)
    if hits.size >= 2:
        out["independence_lr"], out["independence_p"] = christoffersen_independence(hits)
        out["conditional_coverage_lr"], out["conditional_coverage_p"] = (
            christoffersen_conditional_coverage(hits, coverage)
        )
    else:
        for k in (
            "independence_lr",
            "independence_p",
            "conditional_coverage_lr",
            "conditional_coverage_p",
        ):
            out[k] = None
    return out
