"""Aggregate a walk-forward backtest (folds x seeds x cost multipliers) into the report format.

Tables (``metrics.json`` ``extra_tables`` and ``report.html``):

- "Mean ± std across folds and seeds": for each strategy and cost multiplier, the mean and
  sample standard deviation (ddof=1; 0 for one run) of the per-run annualised Sharpe, annual
  return, max drawdown and costs over every (fold, seed) run — rule-based baselines over folds
  only, as they do not depend on the seed;
- "Runs": one row per (fold, seed, cost) for the system and the single-agent PPO baseline (when
  trained) and per (fold, cost) for each rule-based baseline, with the run's realised VaR
  breach rate and Kupiec p;
- "System by seed": each seed's folds stitched at cost 1x (the spread a seed choice would make);
- "Folds": each fold's train / validation / test dates and the training time per seed;
- "Failed jobs" (the grid of :mod:`mtquant.studies.walk_forward_grid` only): each (fold, seed)
  job that failed or left no result, with the reason; the others are reported as usual.

The headline (equity curves, metrics, verdict, targets) stitches the folds' test windows at cost
1x, with the system and the single agent each as the equal-capital ensemble of its seeds (see
:mod:`walk_forward`). Every headline strategy's summary in ``metrics.json`` holds its VaR
backtest (``var_backtest``, ``var_backtest_99``, ``es_backtest``), sector shares, weighted
correlation exposure and the ``risk.stress`` windows, replayed on its last book with the last
fold's features (which span the whole loaded data).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtquant.agents.sizing import execution_note
from mtquant.agents.vol_target import volatility_note
from mtquant.artifacts import SINGLE_AGENT_COMPONENT as SINGLE_AGENT
from mtquant.config import RunConfig
from mtquant.data import Fold, Splits
from mtquant.errors import ConfigError
from mtquant.evaluation import metrics as m
from mtquant.evaluation.backtest import return_correlation
from mtquant.evaluation.combine import ensemble, stitch
from mtquant.evaluation.evaluation_report import SYSTEM, market_returns, score
from mtquant.evaluation.report import provenance_rows, write_report
from mtquant.evaluation.results import VAR_COMPLIANCE_RTOL, StrategyResult
from mtquant.evaluation.var_backtest import var_backtest
from mtquant.evaluation.verdict import VerdictContext
from mtquant.risk_management.correlation_tracker import CorrelationTracker

HEADLINE_COST = 1.0


@dataclass(frozen=True)
class BacktestPlan:
    """What the backtest runs: seeds, test-time cost multipliers (from ``cfg.extras``)."""

    seeds: tuple[int, ...]
    cost_multipliers: tuple[float, ...]

    @classmethod
    def from_config(cls, cfg: RunConfig) -> BacktestPlan:
        ex = cfg.extras or {}
        seeds = tuple(int(s) for s in ex.get("seeds", [cfg.seed]))
        costs = tuple(float(c) for c in ex.get("cost_multipliers", [1.0]))
        if not seeds or len(set(seeds)) != len(seeds):
            raise ConfigError(f"config extras.seeds: expected distinct seeds, got {list(seeds)}")
        if not costs or any(not np.isfinite(c) or c < 0 for c in costs) or 1.0 not in costs:
            raise ConfigError(
                f"config extras.cost_multipliers: expected finite values >= 0 including 1.0 "
                f"(the headline), got {list(costs)}"
            )
        return cls(seeds, costs)


@dataclass
class FoldRun:
    """Results of one fold: ``system[seed][cost]``, ``baselines[name][cost]`` and
    ``single_agent[seed][cost]`` (empty when the stage was not trained)."""

    fold: Fold
    splits: Splits
    system: dict[int, dict[float, StrategyResult]]
    baselines: dict[str, dict[float, StrategyResult]]
    train_seconds: dict[int, float]
    latency: dict[str, float]
    features: Any = None  # the fold's FeatureSet (normalised on its training rows)
    single_agent: dict[int, dict[float, StrategyResult]] = field(default_factory=dict)


def run_metrics(
    r: StrategyResult, var_limit: float, var_confidence: float = 0.95
) -> dict[str, float | None]:
    """The per-run numbers that are averaged across folds and seeds, with the run's VaR backtest
    (realised breach rate of the ex-ante VaR at ``var_confidence``, its Kupiec and conditional
    coverage p)."""
    comp = rate = kupiec = cc = None
    if r.var_forecasts is not None:
        comp = float(np.mean(r.var_forecasts <= var_limit * (1.0 + VAR_COMPLIANCE_RTOL)))
        vb = var_backtest(r.returns, r.var_forecasts, var_confidence)
        rate, kupiec, cc = vb["breach_rate"], vb["kupiec_p"], vb.get("conditional_coverage_p")
    return {
        "sharpe": m.sharpe_ratio(r.returns),
        "annual_return": m.annual_return(r.returns),
        "max_drawdown": m.max_drawdown(r.returns),
        "costs_fraction": m.costs_paid(r.costs, r.initial_equity)["total"][
            "fraction_of_initial_equity"
        ],
        "var_compliance": comp,
        "var_breach_rate": rate,
        "var_kupiec_p": kupiec,
        "var_conditional_coverage_p": cc,
    }


def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    v = [x for x in values if x is not None]
    if not v:
        return None, None
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def run_rows(
    folds: list[FoldRun], var_limit: float, var_confidence: float = 0.95
) -> list[dict[str, Any]]:
    """One row per run: strategy, fold, seed ("-" for baselines), cost and its metrics."""
    rows = []
    for fr in folds:
        test = fr.fold.describe()["test"]
        runs = [(SYSTEM, str(seed), by_cost) for seed, by_cost in fr.system.items()]
        runs += [(SINGLE_AGENT, str(seed), by_cost) for seed, by_cost in fr.single_agent.items()]
        runs += [(name, "-", by_cost) for name, by_cost in fr.baselines.items()]
        for strategy, seed, by_cost in runs:
            for cost, res in by_cost.items():
                rows.append(
                    {
                        "strategy": strategy,
                        "fold": fr.fold.index,
                        "test": test,
                        "seed": seed,
                        "cost_x": cost,
                        **run_metrics(res, var_limit, var_confidence),
                    }
                )
    return rows


def aggregate_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std per (strategy, cost multiplier) over its runs."""
    keys = list(dict.fromkeys((r["strategy"], r["cost_x"]) for r in rows))
    out = []
    for strategy, cost in keys:
        runs = [r for r in rows if r["strategy"] == strategy and r["cost_x"] == cost]
        row: dict[str, Any] = {"strategy": strategy, "cost_x": cost, "runs": len(runs)}
        for metric in ("sharpe", "annual_return", "max_drawdown", "costs_fraction"):
            mean, std = _mean_std([r[metric] for r in runs])
            row[f"{metric}_mean"], row[f"{metric}_std"] = mean, std
        out.append(row)
    return out


def headline_results(folds: list[FoldRun], plan: BacktestPlan) -> list[StrategyResult]:
    """System (seed ensemble), baselines and the single agent (seed ensemble, when every fold
    trained it for every seed the fold's system has), each stitched over the folds at cost 1x.

    A fold's ensemble averages the seeds it holds, in ``plan.seeds`` order: every seed of the
    plan, unless a job of the walk-forward grid failed (the report names it)."""

    def seeds_ensemble(runs: dict[int, dict[float, StrategyResult]], name: str) -> StrategyResult:
        return ensemble([runs[s][HEADLINE_COST] for s in plan.seeds if s in runs], name)

    system = stitch([seeds_ensemble(fr.system, SYSTEM) for fr in folds])
    names = list(folds[0].baselines)
    out = [system] + [stitch([fr.baselines[n][HEADLINE_COST] for fr in folds]) for n in names]
    if all(fr.single_agent and set(fr.single_agent) == set(fr.system) for fr in folds):
        out.append(stitch([seeds_ensemble(fr.single_agent, SINGLE_AGENT) for fr in folds]))
    return out


def write_backtest_report(
    cfg: RunConfig,
    data: Any,
    folds: list[FoldRun],
    out_dir: str | Path,
    wall_seconds: float,
    failed_jobs: list[dict[str, Any]] | None = None,
) -> dict[str, Path]:
    """Score, aggregate and write ``metrics.json``, the PNGs and ``report.html``.

    ``failed_jobs`` (the walk-forward grid's; None for the serial run) adds the "Failed jobs"
    table, one row per (fold, seed) job that left no result, and a note saying what the
    ensembles then average."""
    plan = BacktestPlan.from_config(cfg)
    var_limit = cfg.risk.max_portfolio_var
    results = headline_results(folds, plan)
    latency = statistics.median(fr.latency["median_ms"] for fr in folds)
    months = cfg.data.walk_forward.test_months
    label = f"{len(folds)} walk-forward test window(s) of {months} months"
    market = None if folds[-1].features is None else market_returns(folds[-1].features)
    sums, targets, enforced = score(cfg, results, len(results), latency, label, market)
    conf = cfg.risk.var_confidence
    rows = run_rows(folds, var_limit, conf)
    per_seed = [  # seeds with a run in every fold (a failed grid job leaves a seed out)
        {
            "seed": s,
            **run_metrics(stitch([fr.system[s][HEADLINE_COST] for fr in folds]), var_limit, conf),
        }
        for s in plan.seeds
        if all(s in fr.system for fr in folds)
    ]
    fold_rows = [
        {"fold": fr.fold.index, **{k: v for k, v in fr.splits.describe().items()},
         **{f"train_s_seed_{s}": round(t, 1) for s, t in fr.train_seconds.items()},
         "latency_median_ms": round(fr.latency["median_ms"], 2)}
        for fr in folds
    ]  # fmt: skip
    first, last = results[0].dates[0], results[0].dates[-1]
    notes = [
        f"Walk-forward: expanding training window from {data.dates[0].date()}, retrained every "
        f"{cfg.data.walk_forward.retrain_months} months, each tested on the next {months} "
        f"months; {len(folds)} folds x {len(plan.seeds)} seeds {list(plan.seeds)}, costs x "
        f"{list(plan.cost_multipliers)} at test time; training schedule "
        f"{cfg.training.name!r}. Every fold and seed is reported; none was selected.",
        f"The headline '{SYSTEM}' is the equal-capital ensemble of the {len(plan.seeds)} seeds "
        "(daily returns averaged); its VaR forecast is the mean of the seeds' VaRs (an upper "
        "bound of the ensemble's). Per-seed results are in 'System by seed'; the single-agent "
        f"PPO baseline '{SINGLE_AGENT}', when trained, is its seeds' ensemble too.",
        execution_note(cfg.agents.position_mode),
        volatility_note(cfg.env.target_annual_vol),
        f"Deflated Sharpe counts {len(results)} configurations (the strategies of this report).",
        f"Wall time of the backtest: {wall_seconds / 60:.1f} minutes.",
    ]
    if failed_jobs:
        notes.append(
            f"{len(failed_jobs)} (fold, seed) job(s) of the walk-forward grid left no result "
            "(table 'Failed jobs'): each fold's ensembles average the seeds that finished, a "
            "fold with none is left out, and 'System by seed' lists only seeds with every fold."
        )
    ctx = VerdictContext(system=SYSTEM, period=f"the {label} ({first} to {last}, cost 1x)",
                         seed=cfg.seed, notes=notes)  # fmt: skip
    split_desc = {
        f"fold {fr.fold.index}": f"train {d['train']} | val {d['val']} | test {d['test']}"
        for fr in folds
        for d in [fr.splits.describe()]
    }
    extra = {
        "Mean ± std across folds and seeds": aggregate_rows(rows),
        "System by seed (folds stitched, cost 1x)": per_seed,
        "Folds": fold_rows,
        "Runs": rows,
    }
    if failed_jobs is not None:
        extra["Failed jobs"] = failed_jobs
    test_rows = (folds[0].fold.test[0], folds[-1].fold.test[1])
    return write_report(
        out_dir, results, sums, provenance_rows(data.provenance), split_desc, ctx, extra,
        target_rows=targets, correlation=_correlation(folds, test_rows),
        enforced_rows=enforced,
    )  # fmt: skip


def _correlation(folds: list[FoldRun], rows: tuple[int, int]) -> CorrelationTracker | None:
    """Return correlation over the span of the test windows (features of the last fold)."""
    features = folds[-1].features
    return None if features is None else return_correlation(features, rows)
