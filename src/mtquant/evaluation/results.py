"""What one strategy did on one period (:class:`StrategyResult`), its summary, and the targets.

``summarise`` turns a result into a flat, JSON-ready dict of every metric (``None`` where a
metric is undefined, see :mod:`mtquant.evaluation.metrics`); ``target_table`` scores a summary
against the plan's targets (sprint-3 plan, Day 27). Evaluation and backtest scripts fill a
``StrategyResult`` per strategy from the environment's logs and hand them to
:func:`mtquant.evaluation.report.write_report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtquant.errors import DataError
from mtquant.evaluation import metrics as m
from mtquant.evaluation import sharpe_stats as ss
from mtquant.evaluation.var_backtest import var_backtest

VAR_COMPLIANCE_RTOL = 1e-9  # the risk transform scales VaR to exactly the limit; allow rounding


@dataclass
class RiskInterventions:
    """How often and how hard the risk transform changed the proposed book.

    ``binding_counts[limit]``: days on which that limit bound (``"none"`` excluded);
    ``proposed_var`` / ``executed_var`` ``[T]``: ex-ante VaR before / after the transform.
    """

    binding_counts: dict[str, int]
    proposed_var: NDArray[np.float64]
    executed_var: NDArray[np.float64]


@dataclass
class StrategyResult:
    """One strategy over one period, day t = the day's close after trading at t.

    ``returns[t]`` daily simple return of equity net of costs; ``equity[t]`` USD equity after day
    t (``initial_equity`` before day 0); ``weights[t]`` ``[T, N]`` notional / equity held;
    ``costs[c]`` USD paid per day for c in spread, commission, slippage, swap;
    ``var_forecasts[t]`` ex-ante VaR (positive fraction) of the book held over day t, made with
    data up to t-1; ``allocations`` ``[T, S]`` and ``appetite`` ``[T]`` only for the hierarchical
    system; ``correlation_exposure[t]`` the largest effective correlation of two held legs.
    """

    name: str
    dates: NDArray[Any]  # [T] datetime64[D]
    returns: NDArray[np.float64]  # [T]
    equity: NDArray[np.float64]  # [T]
    weights: NDArray[np.float64]  # [T, N]
    costs: dict[str, NDArray[np.float64]]
    initial_equity: float
    symbols: list[str] = field(default_factory=list)  # [N]
    sectors: list[str] = field(default_factory=list)  # [N]
    var_forecasts: NDArray[np.float64] | None = None  # [T]
    interventions: RiskInterventions | None = None
    allocations: NDArray[np.float64] | None = None  # [T, S]
    appetite: NDArray[np.float64] | None = None  # [T]
    specialists: list[str] = field(default_factory=list)  # [S]
    correlation_exposure: NDArray[np.float64] | None = None  # [T]

    def __post_init__(self) -> None:
        self.dates = np.asarray(self.dates, dtype="datetime64[D]")
        self.returns = m.as_returns(self.returns, f"{self.name}.returns")
        t = self.returns.size
        self._check_len("dates", self.dates, (t,))
        self.equity = np.asarray(self.equity, dtype=np.float64)
        self._check_len("equity", self.equity, (t,))
        self.weights = np.asarray(self.weights, dtype=np.float64)
        if self.weights.ndim != 2 or self.weights.shape[0] != t:
            raise DataError(f"{self.name}.weights: expected [{t}, N], got {self.weights.shape}")
        n = self.weights.shape[1]
        for label, seq in (("symbols", self.symbols), ("sectors", self.sectors)):
            if seq and len(seq) != n:
                raise DataError(f"{self.name}.{label}: {len(seq)} labels for {n} instruments")
        for key in ("var_forecasts", "appetite", "correlation_exposure"):
            value = getattr(self, key)
            if value is not None:
                setattr(self, key, np.asarray(value, dtype=np.float64))
                self._check_len(key, getattr(self, key), (t,))
        if self.allocations is not None:
            self.allocations = np.asarray(self.allocations, dtype=np.float64)
            s = self.allocations.shape[1] if self.allocations.ndim == 2 else -1
            self._check_len("allocations", self.allocations, (t, s))
            if self.specialists and len(self.specialists) != s:
                raise DataError(
                    f"{self.name}.specialists: {len(self.specialists)} names for {s} columns"
                )

    def _check_len(self, key: str, value: NDArray[Any], shape: tuple[int, ...]) -> None:
        if value.shape != shape:
            raise DataError(f"{self.name}.{key}: expected shape {shape}, got {value.shape}")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            i = int(np.argmax(~np.isfinite(value.ravel())))
            raise DataError(f"{self.name}.{key}: non-finite value at flat position {i}")


def summarise(
    result: StrategyResult,
    n_trials: int = 1,
    var_coverage: float = 0.95,
    var_limit: float = 0.02,
    seed: int = 0,
    n_boot: int = 2000,
    trial_sharpe_variance: float | None = None,
) -> dict[str, Any]:
    """Every metric of one strategy as a JSON-ready dict (``None`` = undefined, shown "n/a").

    ``n_trials`` configurations tried (deflates the Sharpe); ``var_coverage`` is the confidence of
    the VaR forecasts; VaR compliance is the fraction of days whose ex-ante VaR (``var_forecasts``,
    else the executed VaR of ``interventions``) is <= ``var_limit`` (relative tolerance 1e-9).
    """
    r = result.returns
    ci = ss.bootstrap_sharpe_ci(r, n_boot=n_boot, seed=seed)
    out: dict[str, Any] = {
        "name": result.name,
        "start": str(result.dates[0]),
        "end": str(result.dates[-1]),
        "days": int(r.size),
        "final_equity": float(result.equity[-1]),
        "total_return": float(m.wealth(r)[-1] - 1.0),
        "annual_return": m.annual_return(r),
        "annual_volatility": m.annual_volatility(r),
        "sharpe": m.sharpe_ratio(r),
        "sharpe_ci_low": None if ci is None else ci[0],
        "sharpe_ci_high": None if ci is None else ci[1],
        "sortino": m.sortino_ratio(r),
        "max_drawdown": m.max_drawdown(r),
        "calmar": m.calmar_ratio(r),
        "hit_rate": m.hit_rate(r),
        "turnover": m.turnover(result.weights),
        "psr": ss.probabilistic_sharpe_ratio(r),
        "dsr": ss.deflated_sharpe_ratio(r, n_trials, trial_sharpe_variance),
        "n_trials": int(n_trials),
        "costs": m.costs_paid(result.costs, result.initial_equity),
    }
    ex_ante = result.var_forecasts
    if ex_ante is None and result.interventions is not None:
        ex_ante = np.asarray(result.interventions.executed_var, dtype=np.float64)
    if ex_ante is not None:
        out["var_backtest"] = var_backtest(r, ex_ante, var_coverage)
        out["var_compliance"] = float(np.mean(ex_ante <= var_limit * (1.0 + VAR_COMPLIANCE_RTOL)))
        out["max_ex_ante_var"] = float(ex_ante.max())
    else:
        out["var_backtest"] = None
        out["var_compliance"] = None
        out["max_ex_ante_var"] = None
    ce = result.correlation_exposure
    out["max_correlation_exposure"] = None if ce is None else float(ce.max())
    out["risk_interventions"] = _interventions_summary(result.interventions)
    return out


def _interventions_summary(iv: RiskInterventions | None) -> dict[str, Any] | None:
    if iv is None:
        return None
    proposed = np.asarray(iv.proposed_var, dtype=np.float64)
    executed = np.asarray(iv.executed_var, dtype=np.float64)
    if proposed.shape != executed.shape or proposed.ndim != 1 or proposed.size == 0:
        raise DataError(
            f"interventions: proposed {proposed.shape} vs executed {executed.shape} VaR"
        )
    return {
        "binding_counts": {k: int(v) for k, v in iv.binding_counts.items()},
        "days_changed": int(np.sum(~np.isclose(proposed, executed, rtol=1e-9, atol=1e-12))),
        "mean_proposed_var": float(proposed.mean()),
        "mean_executed_var": float(executed.mean()),
        "max_proposed_var": float(proposed.max()),
        "max_executed_var": float(executed.max()),
    }


def _status(value: float | None, met: bool) -> str:
    return "not measured" if value is None else ("met" if met else "not met")


def target_table(
    summary: Mapping[str, Any],
    *,
    latency_ms: float | None = None,
    sharpe_target: float = 2.0,
    max_drawdown_target: float = 0.15,
    var_limit: float = 0.02,
    var_compliance_target: float = 1.0,
    correlation_target: float = 0.7,
    latency_target_ms: float = 100.0,
    period: str = "6-month test",
) -> list[dict[str, Any]]:
    """Rows ``{target, measured, unit, status}`` for the plan's targets.

    ``unit`` is "ratio", "fraction" (shown as percent) or "ms"; ``status`` is "met", "not met" or
    "not measured" (a value the caller did not provide is never counted as met).
    """
    sharpe = summary.get("sharpe")
    mdd = summary.get("max_drawdown")
    comp = summary.get("var_compliance")
    corr = summary.get("max_correlation_exposure")
    rows = [
        (
            f"Sharpe ratio > {sharpe_target:g} ({period})",
            sharpe,
            "ratio",
            sharpe is not None and sharpe > sharpe_target,
        ),
        (
            f"Max drawdown < {max_drawdown_target:.0%}",
            mdd,
            "fraction",
            mdd is not None and mdd < max_drawdown_target,
        ),
        (
            f"VaR compliance {var_compliance_target:.0%} at {var_limit:.0%} daily VaR",
            comp,
            "fraction",
            comp is not None and comp >= var_compliance_target,
        ),
        (
            f"Max correlation exposure < {correlation_target:g}",
            corr,
            "ratio",
            corr is not None and corr < correlation_target,
        ),
        (
            f"Decision latency < {latency_target_ms:g} ms",
            latency_ms,
            "ms",
            latency_ms is not None and latency_ms < latency_target_ms,
        ),
    ]
    return [
        {"target": t, "measured": v, "unit": unit, "status": _status(v, ok)}
        for t, v, unit, ok in rows
    ]


def strategies_from(results: Sequence[StrategyResult]) -> dict[str, StrategyResult]:
    """Results by name; two strategies with one name would overwrite each other in the report."""
    names = [r.name for r in results]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"strategy results: duplicate names {dup}")
    return {r.name: r for r in results}
