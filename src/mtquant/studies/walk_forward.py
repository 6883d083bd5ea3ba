"""Walk-forward backtest: retrain on an expanding window, test on the next months, many seeds.

For each fold of :func:`mtquant.data.walk_forward_folds` (``cfg.data.walk_forward``: expanding
training window, a new fold every ``retrain_months``, tested on the following ``test_months``;
``last_folds`` keeps the last N, ``fold`` one) and each seed of ``extras.seeds``:

1. one :class:`~mtquant.experiment.Experiment` per fold: features are computed on the loaded
   data with normalisation statistics of the fold's training rows only; the fold's training
   window is split into train and validation (the last ``data.split.val_months`` of it, used by
   the phases' validation); the fold's test rows are never seen by training or model selection;
2. per seed (:meth:`~mtquant.experiment.Experiment.with_seed`) the stages of
   ``cfg.training.phases`` are trained (:meth:`~mtquant.experiment.Experiment.fit`) into
   ``<out>/fold_<k>/seed_<s>/``: the three phases and, when listed (``training=smoke`` does),
   the flat single-agent PPO baseline on the same rows (a finished run is loaded, an interrupted
   one resumes);
3. the trained system (and single agent) is run on the fold's test rows at every cost
   multiplier of ``extras.cost_multipliers`` (scaling ``env.cost_multiplier`` at test time
   only); the rule-based baselines (which do not depend on the seed) are run once per fold and
   multiplier.

Every fold and every seed is reported; nothing is selected after looking at test results.
The headline series of the report stitches the folds' test windows at cost 1x; the system's
headline is the equal-capital ensemble of its seeds (their daily returns averaged, i.e. one
account per seed, rebalanced daily to equal capital), so no seed is picked; the single agent's
likewise.

:func:`run_walk_forward` runs every (fold, seed) in this process; the grid of
:mod:`mtquant.studies.walk_forward_grid` runs each (fold, seed) as its own Hydra job through the
same :func:`run_seed` and :func:`run_baselines`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from mtquant.artifacts import SINGLE_AGENT_COMPONENT
from mtquant.config import ConfigError, RunConfig
from mtquant.config.data import WalkForwardConfig
from mtquant.data import (
    Fold,
    MarketData,
    Splits,
    fold_splits,
    load_market_data,
    walk_forward_folds,
)
from mtquant.evaluation.backtest import measure_decision_latency
from mtquant.evaluation.evaluation_report import SYSTEM
from mtquant.evaluation.results import StrategyResult
from mtquant.evaluation.walk_forward_report import BacktestPlan, FoldRun
from mtquant.experiment import Experiment
from mtquant.features.feature_set import FeatureSet

ByCost = dict[float, StrategyResult]  # cost multiplier -> result on the fold's test rows


@dataclass
class SeedRun:
    """One seed trained on one fold and tested at every cost multiplier (one job of the grid).

    ``single_agent`` is empty when the stage was not trained; ``latency`` is empty when the
    decisions were not timed. The rule-based baselines do not depend on the seed, so a grid
    splits them among the fold's jobs: ``baselines`` holds the ones this run tested (maybe
    none) and ``baseline_names`` every baseline of the fold, in report order.
    """

    fold: int
    seed: int
    system: ByCost
    single_agent: ByCost
    train_seconds: float
    latency: dict[str, float] = field(default_factory=dict)
    baselines: dict[str, ByCost] = field(default_factory=dict)
    baseline_names: list[str] = field(default_factory=list)


def select_folds(folds: list[Fold], wf: WalkForwardConfig) -> list[Fold]:
    """The folds a run covers: the last ``wf.last_folds`` (all when null), then only
    ``wf.fold`` when set. Raises :class:`ConfigError` naming the key, its value and the folds."""
    if wf.last_folds is not None:
        if wf.last_folds > len(folds):
            raise ConfigError(
                f"config data.walk_forward.last_folds={wf.last_folds}: the data has only "
                f"{len(folds)} walk-forward folds (0..{len(folds) - 1}); expected at most "
                f"{len(folds)} or null for every fold"
            )
        folds = folds[-wf.last_folds :]
    if wf.fold is not None:
        chosen = [f for f in folds if f.index == wf.fold]
        if not chosen:
            raise ConfigError(
                f"config data.walk_forward.fold={wf.fold}: not among the folds of this run "
                f"{[f.index for f in folds]}"
            )
        folds = chosen
    return folds


def fold_experiment(cfg: RunConfig, data: MarketData, fold: Fold) -> Experiment:
    """The fold's experiment: train / val inside its training window, features normalised there."""
    split = cfg.data.split
    splits = fold_splits(data.dates, fold, split.val_months, split.warmup_days)
    return Experiment.from_config(cfg, splits=splits, data=data)


def run_seed(
    exp: Experiment, fold: Fold, plan: BacktestPlan, seed: int, run_dir: Path, time_decisions: bool
) -> SeedRun:
    """Train ``seed`` on the fold into ``run_dir`` (resumable) and test the system (and single
    agent) at every cost multiplier; with ``time_decisions`` also time the system's decisions."""
    t0 = time.perf_counter()
    run = exp.with_seed(seed)
    run.fit(run_dir)
    seconds = time.perf_counter() - t0
    actor = run.system_actor()
    latency = (
        measure_decision_latency(run.cfg, run.features, fold.test, actor, 20)
        if time_decisions
        else {}
    )
    system = {
        c: run.run(actor, SYSTEM, fold.test, cost_multiplier=c, hierarchical=True)
        for c in plan.cost_multipliers
    }
    single: ByCost = {}
    if run.flat is not None:
        env = exp.cfg.env
        flat_actor = run.flat.with_sizing(env.sizing_target_vol, env.max_gross_weight)
        single = {
            c: run.run(flat_actor, SINGLE_AGENT_COMPONENT, fold.test, cost_multiplier=c)
            for c in plan.cost_multipliers
        }
    return SeedRun(fold.index, seed, system, single, seconds, latency)


def run_baselines(
    exp: Experiment, fold: Fold, plan: BacktestPlan, names: list[str] | None = None
) -> dict[str, ByCost]:
    """The rule-based baselines ``names`` (default: every one, in report order) on the fold's
    test rows at every cost multiplier."""
    policies, _ = exp.baselines()
    return {
        name: {c: exp.run(p, name, fold.test, cost_multiplier=c) for c in plan.cost_multipliers}
        for name, p in policies.items()
        if names is None or name in names
    }


def baseline_share(exp: Experiment, plan: BacktestPlan, seed: int) -> tuple[list[str], list[str]]:
    """``(every baseline in report order, the ones the job of seed ``seed`` tests)``: the i-th
    seed of ``plan.seeds`` takes every n-th baseline from the i-th, so a fold's jobs share them."""
    names = list(exp.baselines()[0])
    i, n = plan.seeds.index(seed), len(plan.seeds)
    return names, names[i::n]


def assemble_fold(
    fold: Fold,
    splits: Splits,
    runs: list[SeedRun],
    baselines: dict[str, ByCost],
    features: FeatureSet | None = None,
) -> FoldRun:
    """The fold's :class:`FoldRun` from its seed runs (in seed order) and its baselines: the
    decision timing of the first run that holds one; ``features`` are what the report reads
    (the last fold's)."""
    return FoldRun(
        fold, splits, {r.seed: r.system for r in runs}, baselines,
        {r.seed: r.train_seconds for r in runs},
        next((r.latency for r in runs if r.latency), {}), features,
        {r.seed: r.single_agent for r in runs if r.single_agent},
    )  # fmt: skip


def fold_dir(index: int) -> str:
    """``fold_03``: the serial run's folder of a fold's seeds (``<out>/fold_03/seed_0``)."""
    return f"fold_{index:02d}"


def run_fold(
    cfg: RunConfig, plan: BacktestPlan, data: MarketData, fold: Fold, out_dir: Path
) -> FoldRun:
    """Train every seed on the fold and test system and baselines at every cost multiplier."""
    exp = fold_experiment(cfg, data, fold)
    runs = [
        run_seed(exp, fold, plan, seed, out_dir / fold_dir(fold.index) / f"seed_{seed}", i == 0)
        for i, seed in enumerate(plan.seeds)
    ]
    baselines = run_baselines(exp, fold, plan)
    return assemble_fold(fold, exp.splits, runs, baselines, exp.features)


def run_walk_forward(cfg: RunConfig, out_dir: str | Path) -> tuple[MarketData, list[FoldRun]]:
    """``(market data, [FoldRun per fold])`` over the folds of ``cfg.data.walk_forward``."""
    plan = BacktestPlan.from_config(cfg)
    data = load_market_data(cfg)
    wf = cfg.data.walk_forward
    folds = select_folds(walk_forward_folds(data.dates, wf), wf)
    out = Path(out_dir)
    return data, [run_fold(cfg, plan, data, fold, out) for fold in folds]
