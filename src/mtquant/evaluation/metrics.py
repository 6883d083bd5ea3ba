"""Performance metrics of a daily return series: pure functions, arrays in, numbers out.

Conventions (DESIGN.md "Evaluation"):

- ``returns`` are daily *simple* returns of account equity, net of every cost: ``r_t =
  E_t / E_{t-1} - 1``; a 1-D array or list, oldest first.
- 252 periods a year (``periods``). The risk-free rate ``rf`` is per period and 0 unless given.
- Sample standard deviations use ``ddof=1``.
- Wealth is compounded and anchored at 1.0 *before* the first return, so a loss on day one is
  a drawdown from initial capital.
- Drawdowns are reported as positive fractions (0.244 = 24.4 % below the running peak).

Degenerate input, decided once here and shown as "n/a" in the report:

- an empty series, a non 1-D array, NaN or inf, or a return below -100 % raises
  :class:`~mtquant.errors.DataError` naming the position and value (the caller wired
  something wrong; a silent NaN would end up in the report);
- a ratio whose denominator is zero returns ``0.0`` when its numerator is also zero
  (e.g. Sharpe of an all-flat series) and ``None`` otherwise ("undefined", never ``inf``);
- a statistic that needs more observations than it has (Sharpe of one day) returns ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtquant.errors import DataError

PERIODS_PER_YEAR = 252
COST_COMPONENTS = ("spread", "commission", "slippage", "swap")

FloatArray = NDArray[np.float64]


def as_returns(returns: ArrayLike, name: str = "returns") -> FloatArray:
    """Validate a return series: 1-D, non-empty, finite, every value >= -1."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise DataError(f"{name}: expected a 1-D series, got shape {r.shape}")
    if r.size == 0:
        raise DataError(f"{name}: empty series, no returns to score")
    bad = ~np.isfinite(r)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{name}: non-finite value at position {i}: {r[i]!r}")
    if (r < -1.0).any():
        i = int(np.argmax(r < -1.0))
        raise DataError(f"{name}: return below -100% at position {i}: {r[i]!r}")
    return r


def _ratio(num: float, den: float) -> float | None:
    """num / den with the module's rule for a zero denominator (0/0 -> 0.0, x/0 -> None)."""
    if den > 0.0:
        return float(num / den)
    return 0.0 if num == 0.0 else None


def _is_constant(x: FloatArray) -> bool:
    return bool(np.ptp(x) == 0.0)


def sharpe_ratio(
    returns: ArrayLike, periods: int = PERIODS_PER_YEAR, rf: float = 0.0
) -> float | None:
    """Annualised Sharpe: mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods).

    ``None`` for fewer than 2 returns or constant non-zero excess returns; ``0.0`` for constant
    zero excess returns.
    """
    x = as_returns(returns) - rf
    if x.size < 2:
        return None
    mean = float(x.mean())
    std = 0.0 if _is_constant(x) else float(x.std(ddof=1))
    ratio = _ratio(mean, std)
    return None if ratio is None else ratio * float(np.sqrt(periods))


def downside_deviation(returns: ArrayLike, rf: float = 0.0) -> float:
    """sqrt(mean(min(r - rf, 0)^2)) over ALL n observations (not only the losing days)."""
    x = as_returns(returns) - rf
    return float(np.sqrt(np.mean(np.minimum(x, 0.0) ** 2)))


def sortino_ratio(
    returns: ArrayLike, periods: int = PERIODS_PER_YEAR, rf: float = 0.0
) -> float | None:
    """Annualised Sortino: mean(r - rf) / downside deviation * sqrt(periods).

    ``None`` when nothing was ever below ``rf`` and the mean is positive (unbounded ratio);
    ``0.0`` when both are zero.
    """
    x = as_returns(returns) - rf
    ratio = _ratio(float(x.mean()), downside_deviation(x + rf, rf))
    return None if ratio is None else ratio * float(np.sqrt(periods))


def wealth(returns: ArrayLike) -> FloatArray:
    """Compounded wealth ``[n + 1]`` starting at 1.0 before the first return."""
    r = as_returns(returns)
    return np.concatenate([[1.0], np.cumprod(1.0 + r)])


def drawdown_series(returns: ArrayLike) -> FloatArray:
    """Drawdown ``[n]`` after each return: 1 - W_t / max(1, W_1..W_t), positive fractions."""
    w = wealth(returns)
    peak = np.maximum.accumulate(w)
    return (1.0 - w / peak)[1:]


def max_drawdown(returns: ArrayLike) -> float:
    """Largest peak-to-trough loss of compounded wealth anchored at 1.0, as a positive fraction.

    Example: [-10%, +5%, -20%, +30%, -5%] -> wealth 0.9, 0.945, 0.756, 0.9828, 0.93366; the peak
    is the initial 1.0, so the drawdown is 1 - 0.756 = 0.244.
    """
    return float(drawdown_series(returns).max())


def annual_return(returns: ArrayLike, periods: int = PERIODS_PER_YEAR) -> float | None:
    """CAGR: W_n ** (periods / n) - 1 with compounded wealth W_n; -1.0 after a total loss.

    ``None`` if the extrapolation overflows a float (a few wild days annualised).
    """
    r = as_returns(returns)
    log_growth = float(np.sum(np.log1p(r))) if (r > -1.0).all() else -np.inf
    if log_growth == -np.inf:
        return -1.0
    exponent = log_growth * periods / r.size
    if exponent > 700.0:  # exp overflows float64 beyond ~709
        return None
    return float(np.expm1(exponent))


def annual_volatility(returns: ArrayLike, periods: int = PERIODS_PER_YEAR) -> float | None:
    """std(r, ddof=1) * sqrt(periods); ``None`` for fewer than 2 returns."""
    r = as_returns(returns)
    if r.size < 2:
        return None
    std = 0.0 if _is_constant(r) else float(r.std(ddof=1))
    return std * float(np.sqrt(periods))


def calmar_ratio(returns: ArrayLike, periods: int = PERIODS_PER_YEAR) -> float | None:
    """CAGR / max drawdown; ``0.0`` if both are zero, ``None`` if there was no drawdown."""
    cagr = annual_return(returns, periods)
    if cagr is None:
        return None
    return _ratio(cagr, max_drawdown(returns))


def hit_rate(returns: ArrayLike) -> float | None:
    """Fraction of the days with a non-zero return that were positive.

    Flat days (no position, exactly zero P&L) are left out so that sitting in cash neither
    helps nor hurts; ``None`` if every day was flat.
    """
    r = as_returns(returns)
    active = r != 0.0
    if not active.any():
        return None
    return float(np.mean(r[active] > 0.0))


def _as_weights(weights: ArrayLike, name: str = "weights") -> FloatArray:
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] == 0:
        raise DataError(f"{name}: expected a non-empty [T, N] array, got shape {w.shape}")
    bad = ~np.isfinite(w)
    if bad.any():
        t, n = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{name}: non-finite weight at day {t}, instrument {n}: {w[t, n]!r}")
    return w


def turnover(weights_history: ArrayLike, initial_weights: ArrayLike | None = None) -> float:
    """Mean daily traded notional as a fraction of equity: ``mean_t sum_i |w[t,i] - w[t-1,i]|``.

    ``weights_history[t]`` ``[T, N]`` are the weights (notional / equity) held after trading on
    day t. The day before the first row holds ``initial_weights`` (default: flat, the account
    starts in cash), so building the first book counts. This is buys plus sells; for a fully
    invested long-only book the conventional one-way turnover is half of it.
    """
    w = _as_weights(weights_history, "weights_history")
    w0 = np.zeros(w.shape[1]) if initial_weights is None else np.asarray(initial_weights, float)
    if w0.shape != (w.shape[1],):
        raise DataError(f"initial_weights: expected shape ({w.shape[1]},), got {w0.shape}")
    traded = np.abs(np.diff(np.vstack([w0[None, :], w]), axis=0)).sum(axis=1)  # [T]
    return float(traded.mean())


def costs_paid(
    costs: Mapping[str, ArrayLike | float], initial_equity: float
) -> dict[str, dict[str, float]]:
    """Total cost per component (spread, commission, slippage, swap) and in all.

    ``costs[c]`` is a daily USD series ``[T]`` (or an already summed total), positive = paid,
    negative = received (a positive swap carry). Returns ``{component: {"usd": total,
    "fraction_of_initial_equity": total / initial_equity}}`` plus ``"total"``.
    """
    if not np.isfinite(initial_equity) or initial_equity <= 0.0:
        raise DataError(
            f"costs_paid: initial_equity must be a positive number, got {initial_equity!r}"
        )
    missing = [c for c in COST_COMPONENTS if c not in costs]
    extra = [c for c in costs if c not in COST_COMPONENTS]
    if missing or extra:
        raise DataError(
            f"costs: expected components {list(COST_COMPONENTS)}, missing {missing}, unknown {extra}"
        )
    out: dict[str, dict[str, float]] = {}
    for c in COST_COMPONENTS:
        v = np.asarray(costs[c], dtype=np.float64)
        if not np.isfinite(v).all():
            i = int(np.argmax(~np.isfinite(v.ravel())))
            raise DataError(f"costs[{c!r}]: non-finite value at position {i}: {v.ravel()[i]!r}")
        total = float(v.sum())
        out[c] = {"usd": total, "fraction_of_initial_equity": total / initial_equity}
    grand = sum(out[c]["usd"] for c in COST_COMPONENTS)
    out["total"] = {"usd": grand, "fraction_of_initial_equity": grand / initial_equity}
    return out


def exposure_by_sector(
    weights: ArrayLike, sectors: Sequence[str], gross: bool = True
) -> dict[str, FloatArray]:
    """Exposure of each sector over time: ``{sector: [T]}`` in order of first appearance.

    ``gross=True`` sums ``|w|`` (notional at risk, what the sector limit caps); ``gross=False``
    sums signed weights (net direction).
    """
    w = _as_weights(weights)
    if len(sectors) != w.shape[1]:
        raise DataError(f"sectors: {len(sectors)} labels for {w.shape[1]} instruments")
    names = list(dict.fromkeys(sectors))
    onehot = np.array([[s == name for name in names] for s in sectors], dtype=np.float64)  # [N,K]
    per_sector = (np.abs(w) if gross else w) @ onehot  # [T, K]
    return {name: per_sector[:, k] for k, name in enumerate(names)}
