"""Combine strategy results: consecutive periods stitched into one series, seeds into an ensemble.

:func:`stitch` joins the folds' test windows of a walk-forward (equity re-compounded);
:func:`ensemble` is the equal-capital ensemble of runs on the same days (seeds), daily returns
averaged, so no seed is picked.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mtquant.errors import ConfigError, DataError
from mtquant.evaluation.results import RiskInterventions, StrategyResult


def _cat(parts: list[np.ndarray | None]) -> np.ndarray | None:
    return None if any(p is None for p in parts) else np.concatenate(parts)  # type: ignore[arg-type]


def stitch(results: list[StrategyResult], name: str | None = None) -> StrategyResult:
    """One result from consecutive periods (folds' test windows), equity re-compounded.

    Optional series (VaR / ES forecasts, allocations, correlations) are joined; one missing in
    any period makes the stitched series ``None``, never partly filled.
    """
    first = results[0]
    dates = np.concatenate([r.dates for r in results])
    if (np.diff(dates.astype("int64")) <= 0).any():
        raise ConfigError(
            "walk-forward test windows overlap (data.walk_forward.test_months > retrain_months): "
            "they cannot be stitched into one series"
        )
    returns = np.concatenate([r.returns for r in results])
    iv = _merge_interventions(results, np.concatenate)
    return StrategyResult(
        name=name or first.name,
        dates=dates,
        returns=returns,
        equity=np.asarray(first.initial_equity * np.cumprod(1.0 + returns), dtype=np.float64),
        weights=np.concatenate([r.weights for r in results]),
        costs={c: np.concatenate([r.costs[c] for r in results]) for c in first.costs},
        initial_equity=first.initial_equity,
        symbols=first.symbols,
        sectors=first.sectors,
        var_forecasts=_cat([r.var_forecasts for r in results]),
        interventions=iv,
        allocations=_cat([r.allocations for r in results]),
        appetite=_cat([r.appetite for r in results]),
        specialists=first.specialists,
        correlation_exposure=_cat([r.correlation_exposure for r in results]),
        var_forecasts_99=_cat([r.var_forecasts_99 for r in results]),
        es_forecasts=_cat([r.es_forecasts for r in results]),
        correlation_matrices=_cat([r.correlation_matrices for r in results]),
        groups=first.groups,
    )


def _merge_interventions(
    results: list[StrategyResult], combine: Callable[[list[np.ndarray]], np.ndarray]
) -> RiskInterventions | None:
    """Counts summed over runs (binding limits, breaker trips and days, refused orders); VaR series
    joined by ``combine`` (None if any run lacks them)."""
    ivs = [r.interventions for r in results]
    if any(i is None for i in ivs):
        return None
    present = [i for i in ivs if i is not None]

    def summed(table: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in present:
            for k, v in getattr(i, table).items():
                out[k] = out.get(k, 0) + v
        return out

    return RiskInterventions(
        summed("binding_counts"),
        combine([i.proposed_var for i in present]),
        combine([i.executed_var for i in present]),
        alert_counts=summed("alert_counts"),
        breaker_days=sum(i.breaker_days for i in present),
        rejected_counts=summed("rejected_counts"),
    )


def _mean(parts: list[np.ndarray | None]) -> np.ndarray | None:
    return None if any(p is None for p in parts) else np.mean(np.stack(parts), axis=0)  # type: ignore[arg-type]


def ensemble(results: list[StrategyResult], name: str) -> StrategyResult:
    """Equal-capital ensemble of runs on the same days (seeds): daily returns averaged.

    Weights, costs, allocations and appetite are averaged; the VaR forecasts (at
    ``var_confidence`` and at 99%) are the means of the runs' VaRs, an upper bound of the
    ensemble book's parametric VaR (VaR is convex in the weights: ``VaR(mean w) <= mean
    VaR(w)``), and for the same reason the ES forecast, the mean of the runs' ES, is an upper
    bound of the ensemble's (ES is convex too). So a VaR backtest of the ensemble is conservative:
    it can only under-count breaches of the ensemble's own VaR. The largest pairwise correlation
    exposure is the largest of the runs'; the correlation matrices (the same features, so the
    same for every seed) are averaged, and the position-weighted exposure is then measured on
    the averaged book.
    """
    first = results[0]
    if any(r.dates.shape != first.dates.shape or (r.dates != first.dates).any() for r in results):
        raise DataError(f"ensemble {name}: the runs do not cover the same days")
    returns = np.mean([r.returns for r in results], axis=0)
    iv = _merge_interventions(results, lambda parts: np.mean(parts, axis=0))
    ce = [r.correlation_exposure for r in results]
    return StrategyResult(
        name=name,
        dates=first.dates,
        returns=returns,
        equity=np.asarray(first.initial_equity * np.cumprod(1.0 + returns), dtype=np.float64),
        weights=np.mean([r.weights for r in results], axis=0),
        costs={c: np.mean([r.costs[c] for r in results], axis=0) for c in first.costs},
        initial_equity=first.initial_equity,
        symbols=first.symbols,
        sectors=first.sectors,
        var_forecasts=_mean([r.var_forecasts for r in results]),
        interventions=iv,
        allocations=_mean([r.allocations for r in results]),
        appetite=_mean([r.appetite for r in results]),
        specialists=first.specialists,
        correlation_exposure=None if any(c is None for c in ce) else np.max(np.stack(ce), axis=0),  # type: ignore[arg-type]
        var_forecasts_99=_mean([r.var_forecasts_99 for r in results]),
        es_forecasts=_mean([r.es_forecasts for r in results]),
        correlation_matrices=_mean([r.correlation_matrices for r in results]),
        groups=first.groups,
    )
