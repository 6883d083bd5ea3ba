"""Walk-forward backtest: retrain on an expanding window, test on the next months, many seeds.

For each fold of :func:`mtquant.data.walk_forward_folds` (``cfg.data.walk_forward``: expanding
training window, a new fold every ``retrain_months``, tested on the following ``test_months``)
and each seed of ``extras.seeds``:

1. features are computed on the loaded data with normalisation statistics of the fold's
   training rows only; the fold's training window is split into train and validation (the last
   ``data.split.val_months`` of it, used by the phases' validation); the fold's test rows are
   never seen by training or model selection;
2. the stages of ``cfg.training.phases`` are trained with the training pipeline's pieces
   (``fit_phase``, ``write_exports``) into ``<out>/fold_<k>/seed_<s>/``: the three phases and,
   when listed (``training=smoke`` does), the flat single-agent PPO baseline on the same rows;
3. the trained system (and single agent) is run on the fold's test rows at every cost
   multiplier of ``extras.cost_multipliers`` (scaling ``env.cost_multiplier`` at test time
   only); the rule-based baselines (which do not depend on the seed) are run once per fold and
   multiplier.

Every fold and every seed is reported; nothing is selected after looking at test results.
The headline series of the report stitches the folds' test windows at cost 1x; the system's
headline is the equal-capital ensemble of its seeds (their daily returns averaged, i.e. one
account per seed, rebalanced daily to equal capital), so no seed is picked; the single agent's
likewise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtquant.config import RunConfig
from mtquant.data import Fold, Splits, load_market_data, walk_forward_folds
from mtquant.errors import ConfigError, DataError
from mtquant.evaluation.results import RiskInterventions, StrategyResult

SYSTEM = "hierarchical"


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


def fold_splits(dates: pd.DatetimeIndex, fold: Fold, val_months: int, warmup_days: int) -> Splits:
    """Train / val inside the fold's training window (val = its last ``val_months``); test = fold's."""
    stop = fold.train[1]
    val_from = dates[stop - 1] - pd.DateOffset(months=val_months)
    v0 = int(dates.searchsorted(val_from, side="right"))
    if v0 <= warmup_days or v0 >= stop:
        raise DataError(
            f"walk-forward fold {fold.index} (train {fold.describe()['train']}): too short for "
            f"{val_months} validation months after {warmup_days} warm-up days"
        )
    return Splits(dates, train=(0, v0), val=(v0, stop), test=fold.test)


def fold_features(cfg: RunConfig, data: Any, splits: Splits) -> Any:
    """Features of the whole data, normalised with statistics of the fold's training rows only."""
    from mtquant.features import compute_features
    from mtquant.instruments import InstrumentUniverse

    universe = InstrumentUniverse.from_config(cfg.instruments)
    return compute_features(
        data, universe, train_end=splits.train[1], var_window=cfg.risk.var_window
    )


def train_fold(
    cfg: RunConfig, run_dir: Path, data: Any, splits: Splits, features: Any
) -> tuple[Any, dict[str, Any]]:
    """Train the stages of ``cfg.training.phases`` on ``splits.train`` (validating on
    ``splits.val``): the hierarchy's phases and, if listed, the single-agent baseline.

    ``features`` from :func:`fold_features`. Returns ``(policy, metrics)``; the single agent is
    left as its export in ``run_dir`` (:func:`~mtquant.evaluation.checkpoint_eval.load_single_agent`
    reads it). Completed stages (exports present) are loaded or skipped, not retrained, so an
    interrupted backtest resumes. Uses the training pipeline's own pieces; the pipeline's
    ``run_training`` has no hook for an explicit split yet.
    """
    from lightning.pytorch import seed_everything

    from mtquant.agents.environments import make_env
    from mtquant.agents.hierarchical.policy import build_policy
    from mtquant.agents.training.exports import write_model_card
    from mtquant.agents.training.phase_runner import PhaseInputs, fit_phase, phase_seed
    from mtquant.agents.training.pipeline import (
        export_files,
        load_exports,
        model_card,
        write_exports,
    )
    from mtquant.agents.training.single_agent import single_agent_view
    from mtquant.config.training import SINGLE_AGENT, STAGES

    seed_everything(cfg.seed, workers=True, verbose=False)
    policy = build_policy(cfg.agents, cfg.instruments)
    inputs = PhaseInputs(cfg, run_dir, policy, features, splits.train, splits.val, make_env)
    metrics: dict[str, Any] = {}
    for stage in STAGES:
        done = all((run_dir / f).is_file() for f in export_files(stage, list(policy.names)))
        if done and stage != SINGLE_AGENT:
            load_exports(cfg, run_dir, policy, stage)
            policy.fixed_allocation = stage == "phase1"
        if done or stage not in cfg.training.phases:
            continue
        net = (
            single_agent_view(cfg, features, phase_seed(cfg.seed, SINGLE_AGENT))
            if stage == SINGLE_AGENT
            else policy
        )
        metrics[stage] = fit_phase(replace(inputs, policy=net), stage)
        write_exports(cfg, run_dir, net, stage)
        write_model_card(run_dir, model_card(cfg, {"data": data, "splits": splits}, metrics))
    return policy.eval(), metrics


def _cat(parts: list[np.ndarray | None]) -> np.ndarray | None:
    return None if any(p is None for p in parts) else np.concatenate(parts)  # type: ignore[arg-type]


def stitch(results: list[StrategyResult], name: str | None = None) -> StrategyResult:
    """One result from consecutive periods (folds' test windows), equity re-compounded."""
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
    )


def _merge_interventions(
    results: list[StrategyResult], combine: Callable[[list[np.ndarray]], np.ndarray]
) -> RiskInterventions | None:
    """Binding counts summed over runs; VaR series joined by ``combine`` (None if any run lacks them)."""
    ivs = [r.interventions for r in results]
    if any(i is None for i in ivs):
        return None
    present = [i for i in ivs if i is not None]
    counts: dict[str, int] = {}
    for i in present:
        for k, v in i.binding_counts.items():
            counts[k] = counts.get(k, 0) + v
    return RiskInterventions(
        counts,
        combine([i.proposed_var for i in present]),
        combine([i.executed_var for i in present]),
    )


def _mean(parts: list[np.ndarray | None]) -> np.ndarray | None:
    return None if any(p is None for p in parts) else np.mean(np.stack(parts), axis=0)  # type: ignore[arg-type]


def ensemble(results: list[StrategyResult], name: str) -> StrategyResult:
    """Equal-capital ensemble of runs on the same days (seeds): daily returns averaged.

    Weights, costs, allocations and appetite are averaged; the VaR forecast is the mean of the
    runs' VaRs, an upper bound of the ensemble book's parametric VaR (VaR is convex in the
    weights), and the correlation exposure the largest of the runs'.
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
    )


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


def run_fold(cfg: RunConfig, plan: BacktestPlan, data: Any, fold: Fold, out_dir: Path) -> FoldRun:
    """Train every seed on the fold and test system and baselines at every cost multiplier."""
    from mtquant.evaluation.backtest import measure_decision_latency, run_strategy
    from mtquant.evaluation.checkpoint_eval import (
        SINGLE_AGENT,
        baseline_policies,
        load_single_agent,
    )

    splits = fold_splits(data.dates, fold, cfg.data.split.val_months, cfg.data.split.warmup_days)
    system: dict[int, dict[float, StrategyResult]] = {}
    single: dict[int, dict[float, StrategyResult]] = {}
    seconds: dict[int, float] = {}
    features = fold_features(cfg, data, splits)
    latency: dict[str, float] = {}
    for seed in plan.seeds:
        scfg = replace(cfg, seed=seed)
        t0 = time.perf_counter()
        run_dir = out_dir / f"fold_{fold.index:02d}" / f"seed_{seed}"
        policy, _ = train_fold(scfg, run_dir, data, splits, features)
        seconds[seed] = time.perf_counter() - t0
        actor = policy.with_sizing(cfg.env.sizing_target_vol, cfg.env.max_gross_weight)
        if not latency:  # the first seed's decisions, timed once per fold
            latency = measure_decision_latency(scfg, features, fold.test, actor, n_decisions=20)
        system[seed] = {
            c: run_strategy(scfg, features, fold.test, actor, SYSTEM, cost_multiplier=c,
                            hierarchical=True)
            for c in plan.cost_multipliers
        }  # fmt: skip
        flat = load_single_agent(scfg, run_dir, features)
        if flat is not None:
            flat_actor = flat.with_sizing(cfg.env.sizing_target_vol, cfg.env.max_gross_weight)
            single[seed] = {
                c: run_strategy(scfg, features, fold.test, flat_actor, SINGLE_AGENT,
                                cost_multiplier=c)
                for c in plan.cost_multipliers
            }  # fmt: skip
    policies, _ = baseline_policies(cfg, features)
    baselines = {
        name: {
            c: run_strategy(cfg, features, fold.test, p, name, cost_multiplier=c)
            for c in plan.cost_multipliers
        }
        for name, p in policies.items()
    }
    return FoldRun(fold, splits, system, baselines, seconds, latency, features, single)


def run_walk_forward(cfg: RunConfig, out_dir: str | Path) -> tuple[Any, list[FoldRun]]:
    """``(market data, [FoldRun per fold])`` over every fold of ``cfg.data.walk_forward``."""
    plan = BacktestPlan.from_config(cfg)
    data = load_market_data(cfg)
    folds = walk_forward_folds(data.dates, cfg.data.walk_forward)
    out = Path(out_dir)
    return data, [run_fold(cfg, plan, data, fold, out) for fold in folds]
