"""Walk-forward backtest: retrain on an expanding window, test on the next months, many seeds.

For each fold of :func:`mtquant.data.walk_forward_folds` (``cfg.data.walk_forward``: expanding
training window, a new fold every ``retrain_months``, tested on the following ``test_months``)
and each seed of ``extras.seeds``:

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
"""

from __future__ import annotations

import time
from pathlib import Path

from mtquant.artifacts import SINGLE_AGENT_COMPONENT
from mtquant.config import RunConfig
from mtquant.data import Fold, MarketData, fold_splits, load_market_data, walk_forward_folds
from mtquant.evaluation.backtest import measure_decision_latency
from mtquant.evaluation.evaluation_report import SYSTEM
from mtquant.evaluation.results import StrategyResult
from mtquant.evaluation.walk_forward_report import BacktestPlan, FoldRun
from mtquant.experiment import Experiment


def run_fold(
    cfg: RunConfig, plan: BacktestPlan, data: MarketData, fold: Fold, out_dir: Path
) -> FoldRun:
    """Train every seed on the fold and test system and baselines at every cost multiplier."""
    splits = fold_splits(data.dates, fold, cfg.data.split.val_months, cfg.data.split.warmup_days)
    exp = Experiment.from_config(cfg, splits=splits, data=data)
    system: dict[int, dict[float, StrategyResult]] = {}
    single: dict[int, dict[float, StrategyResult]] = {}
    seconds: dict[int, float] = {}
    latency: dict[str, float] = {}
    for seed in plan.seeds:
        t0 = time.perf_counter()
        run = exp.with_seed(seed)
        run.fit(out_dir / f"fold_{fold.index:02d}" / f"seed_{seed}")
        seconds[seed] = time.perf_counter() - t0
        actor = run.system_actor()
        if not latency:  # the first seed's decisions, timed once per fold
            latency = measure_decision_latency(run.cfg, run.features, fold.test, actor, 20)
        system[seed] = {
            c: run.run(actor, SYSTEM, fold.test, cost_multiplier=c, hierarchical=True)
            for c in plan.cost_multipliers
        }
        if run.flat is not None:
            env = cfg.env
            flat_actor = run.flat.with_sizing(env.sizing_target_vol, env.max_gross_weight)
            single[seed] = {
                c: run.run(flat_actor, SINGLE_AGENT_COMPONENT, fold.test, cost_multiplier=c)
                for c in plan.cost_multipliers
            }
    policies, _ = exp.baselines()
    baselines = {
        name: {c: exp.run(p, name, fold.test, cost_multiplier=c) for c in plan.cost_multipliers}
        for name, p in policies.items()
    }
    return FoldRun(fold, splits, system, baselines, seconds, latency, exp.features, single)


def run_walk_forward(cfg: RunConfig, out_dir: str | Path) -> tuple[MarketData, list[FoldRun]]:
    """``(market data, [FoldRun per fold])`` over every fold of ``cfg.data.walk_forward``."""
    plan = BacktestPlan.from_config(cfg)
    data = load_market_data(cfg)
    folds = walk_forward_folds(data.dates, cfg.data.walk_forward)
    out = Path(out_dir)
    return data, [run_fold(cfg, plan, data, fold, out) for fold in folds]
