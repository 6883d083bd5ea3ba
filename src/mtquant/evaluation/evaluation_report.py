"""Score an evaluation (the system, the single agent and every baseline on one split) and write
its report: ``metrics.json``, the PNGs and ``report.html``.

:meth:`mtquant.experiment.Experiment.evaluate` runs the strategies through the same env, costs
and risk transform and times :meth:`HierarchicalTradingSystem.step`;
:func:`write_evaluation_report` scores them here (no training code is imported).

Deflated Sharpe, number of trials: every strategy in the report counts as one configuration
tried (a reader who picks the best row has made that many trials), plus the configurations
recorded beside the run beyond the one kept: the sweep's jobs (``n_trials`` of the model card) or,
if more, the distinct configurations (seeds x variants) of the run cards in its sweep directory
or beside it on the same data (:func:`~mtquant.config.sweeps.configurations_tried`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from mtquant.agents.sizing import execution_note
from mtquant.agents.vol_target import volatility_note
from mtquant.config import RunConfig
from mtquant.config.sweeps import configurations_tried
from mtquant.data.market_data import Provenance
from mtquant.data.splits import Splits
from mtquant.evaluation.backtest import return_correlation
from mtquant.evaluation.report import provenance_rows, write_report
from mtquant.evaluation.results import StrategyResult, enforced_table, summarise, target_table
from mtquant.evaluation.verdict import VerdictContext
from mtquant.features.feature_set import FeatureSet

SYSTEM = "hierarchical"


@dataclass
class Evaluation:
    """What one evaluation ran: the strategies' results on ``split`` (the system's first)."""

    split: str  # train | val | test
    rows: tuple[int, int]
    results: list[StrategyResult]
    latency: dict[str, float]  # HierarchicalTradingSystem.step(), ms (median, p95, max, n)
    missing: list[str] = field(default_factory=list)  # strategies not scored, with the reason
    phases: list[str] = field(default_factory=list)  # the phases whose weights were evaluated
    run_dir: str = ""
    card: dict[str, Any] = field(default_factory=dict)  # the run's model card
    domain_view: list[dict[str, Any]] = field(default_factory=list)  # the specialists' view
    last_book_risk: list[dict[str, str]] = field(default_factory=list)  # risk_report rows


def count_trials(card: Mapping[str, Any], n_strategies: int, run_dir: str = "") -> int:
    """Configurations tried for the DSR: the report's strategies + the configurations the run
    cards record beside the run (sweep trials, seeds, variants:
    :func:`~mtquant.config.sweeps.configurations_tried`) - 1."""
    return n_strategies + configurations_tried(card, run_dir or None)["n_trials"] - 1


def market_returns(features: FeatureSet) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """``(dates [T], returns [T, N])`` of the loaded data: the features' daily USD position
    returns, which the stress-window replay applies to each strategy's last book."""
    dates = np.asarray(features.dates.values, dtype="datetime64[D]")
    return dates, features.returns.detach().to(torch.float64).cpu().numpy()


def score(
    cfg: RunConfig,
    results: list[StrategyResult],
    n_trials: int,
    latency_ms: float | None,
    period: str,
    market: tuple[NDArray[Any], NDArray[np.float64]] | None = None,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Summaries of every result, the target table of the system (the first result, realised
    outcomes) and its enforced-by-construction limits.

    Every summary holds the VaR backtests, sector shares and the ``risk.stress`` windows; with
    ``market`` (:func:`market_returns`) the windows are also replayed on each last book.
    """
    risk = cfg.risk
    sector_cap = risk.max_sector_allocation * risk.max_gross_leverage
    sums = {
        r.name: summarise(
            r,
            n_trials=n_trials,
            var_coverage=risk.var_confidence,
            var_limit=risk.max_portfolio_var,
            seed=cfg.seed,
            sector_cap=sector_cap,
            stress_windows=risk.stress,
            market=market,
        )  # fmt: skip
        for r in results
    }
    system = sums[results[0].name]
    targets = target_table(
        system, latency_ms=latency_ms, var_limit=risk.max_portfolio_var,
        correlation_target=risk.max_correlation_exposure, period=period,
        correlation_rule=risk.correlation_rule,
    )  # fmt: skip
    enforced = enforced_table(
        system, var_limit=risk.max_portfolio_var,
        correlation_target=risk.max_correlation_exposure, sector_cap=sector_cap,
        correlation_rule=risk.correlation_rule,
    )  # fmt: skip
    return sums, targets, enforced


def write_evaluation_report(
    cfg: RunConfig,
    ev: Evaluation,
    features: FeatureSet,
    splits: Splits,
    provenance: Mapping[str, Provenance],
    out_dir: str | Path,
) -> dict[str, Path]:
    """Score ``ev`` and write ``metrics.json``, the PNGs and ``report.html`` into ``out_dir``."""
    results, card, run_dir = ev.results, ev.card, ev.run_dir
    n_trials = count_trials(card, len(results), run_dir)
    first, last = results[0].dates[0], results[0].dates[-1]
    months = cfg.data.split.test_months if ev.split == "test" else cfg.data.split.val_months
    label = f"{months}-month {ev.split}" if ev.split != "train" else "train split"
    sums, targets, enforced = score(
        cfg, results, n_trials, ev.latency["median_ms"], label, market_returns(features)
    )
    notes = [
        f"Phases loaded from {run_dir}: {', '.join(ev.phases)}.",
        execution_note(cfg.agents.position_mode),
        volatility_note(cfg.env.target_annual_vol),
        f"Deflated Sharpe counts {n_trials} configurations: the {len(results)} strategies of this "
        "report plus the other configurations (sweep trials, seeds, variants) the run cards "
        "record.",
        *[f"Baseline {m}." for m in ev.missing],
    ]
    trained_on = card.get("data", {})
    if trained_on and trained_on.get("source") not in (None, cfg.data.source):
        notes.append(
            f"The checkpoint was trained on data source {trained_on.get('source')!r} and is "
            f"evaluated on {cfg.data.source!r}."
        )
    extra: dict[str, list[dict[str, Any]]] = {
        "Decision latency (HierarchicalTradingSystem.step, ms)": [
            {k: round(v, 3) if k != "n" else int(v) for k, v in ev.latency.items()}
        ],
        "Checkpoint": [
            {
                "run_dir": run_dir,
                "phases": ", ".join(ev.phases),
                **{k: str(v) for k, v in trained_on.items()},
                "config_hash": str(card.get("config_hash", "n/a")),
            }
        ],
        "Baselines not scored": [{"baseline": m} for m in ev.missing],
        "Specialists' domain view over the evaluated days": ev.domain_view,
        "Risk of the system's last book (PortfolioRiskManager.risk_report)": ev.last_book_risk,
    }
    ctx_v = VerdictContext(
        system=SYSTEM, period=f"the {label} {first} to {last}", seed=cfg.seed, notes=notes
    )
    split_desc = {**splits.describe(), "evaluated": f"{ev.split}: {first}..{last}"}
    return write_report(
        out_dir, results, sums, provenance_rows(provenance), split_desc, ctx_v, extra,
        target_rows=targets, correlation=return_correlation(features, ev.rows),
        enforced_rows=enforced,
    )  # fmt: skip
