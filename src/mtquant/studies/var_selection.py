"""Which VaR model holds out of sample: every ``risk.var_method`` backtested on walk-forward folds.

For each walk-forward fold (``data.walk_forward``, ``last_folds`` and ``fold`` select as in the
backtest) whose test window lies in the study's period
and each model of ``extras.var_methods``, every rule-based baseline (they need no training, so
the study is cheap) trades the fold's test rows through the env with that model enforced; the
folds' results are stitched per strategy and the realised returns are backtested against the
model's ex-ante forecasts (:func:`~mtquant.evaluation.var_backtest.var_backtest`: breach rate,
Kupiec, Christoffersen independence and conditional coverage, at ``risk.var_confidence`` and at
99%).

The protocol (``docs/portfolio-risk.md``): ``extras.period=research`` uses the folds whose test
windows end before ``extras.holdout_start`` and chooses a model by a rule fixed in advance
(:func:`choose`); ``extras.period=holdout`` reports the folds from ``extras.holdout_start`` on,
once, for the model chosen. Nothing of the holdout period is read in research mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from mtquant.config import RunConfig
from mtquant.data import Fold, MarketData, fold_splits, load_market_data, walk_forward_folds
from mtquant.errors import ConfigError
from mtquant.evaluation.combine import stitch
from mtquant.evaluation.results import StrategyResult
from mtquant.evaluation.var_backtest import var_backtest
from mtquant.experiment import Experiment
from mtquant.risk_management.var_models import REPORT_CONFIDENCE, VAR_METHODS
from mtquant.studies.walk_forward import select_folds

PERIODS = ("research", "holdout")
PASS_P = 0.05  # a model passes for a strategy when Kupiec p and conditional-coverage p exceed it


@dataclass(frozen=True)
class StudyPlan:
    """The study's settings (``extras`` of ``conf/var_study.yaml``)."""

    var_methods: tuple[str, ...]
    period: str
    holdout_start: pd.Timestamp

    @classmethod
    def from_config(cls, cfg: RunConfig) -> StudyPlan:
        extras = cfg.extras
        methods = tuple(extras.get("var_methods") or VAR_METHODS)
        unknown = [m for m in methods if m not in VAR_METHODS]
        if unknown:
            raise ConfigError(f"config extras.var_methods: unknown {unknown}; known {VAR_METHODS}")
        period = str(extras.get("period", "research"))
        if period not in PERIODS:
            raise ConfigError(f"config extras.period={period!r}: expected one of {PERIODS}")
        try:
            start = pd.Timestamp(str(extras.get("holdout_start", "2011-01-01")))
        except ValueError as exc:
            raise ConfigError(f"config extras.holdout_start: {exc}") from None
        return cls(methods, period, start)

    def keeps(self, fold: Fold, dates: pd.DatetimeIndex) -> bool:
        """The fold's test window lies wholly in the study's period."""
        first, last = dates[fold.test[0]], dates[fold.test[1] - 1]
        if self.period == "research":
            return bool(last < self.holdout_start)
        return bool(first >= self.holdout_start)


def run_folds(
    cfg: RunConfig, plan: StudyPlan, data: MarketData
) -> tuple[list[Fold], dict[str, dict[str, list[StrategyResult]]]]:
    """``(folds, {method: {strategy: [result per fold]}})`` over the period's folds."""
    wf = cfg.data.walk_forward
    every = select_folds(
        walk_forward_folds(data.dates, wf), wf
    )  # last_folds / fold, as the backtest
    folds = [f for f in every if plan.keeps(f, data.dates)]
    if not folds:
        raise ConfigError(
            f"var study: no walk-forward fold has its test window in the {plan.period} period "
            f"(extras.holdout_start={plan.holdout_start.date()}, data {data.dates[0].date()}.."
            f"{data.dates[-1].date()}); change extras.holdout_start or data.walk_forward"
        )
    out: dict[str, dict[str, list[StrategyResult]]] = {m: {} for m in plan.var_methods}
    for fold in folds:
        splits = fold_splits(
            data.dates, fold, cfg.data.split.val_months, cfg.data.split.warmup_days
        )
        exp = Experiment.from_config(cfg, splits=splits, data=data)
        for method in plan.var_methods:
            run = exp.with_risk(replace(cfg.risk, var_method=method))
            policies, _ = run.baselines()
            for name, policy in policies.items():
                out[method].setdefault(name, []).append(run.run(policy, name, fold.test))
    return folds, out


def backtests(
    results: dict[str, dict[str, list[StrategyResult]]], confidence: float
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{method: {strategy: {"95": var_backtest, "99": var_backtest}}}`` of the stitched folds."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for method, by_strategy in results.items():
        table[method] = {}
        for name, parts in by_strategy.items():
            r = stitch(parts)
            assert r.var_forecasts is not None and r.var_forecasts_99 is not None
            table[method][name] = {
                f"{confidence:.0%}": var_backtest(r.returns, r.var_forecasts, confidence),
                f"{REPORT_CONFIDENCE:.0%}": var_backtest(
                    r.returns, r.var_forecasts_99, REPORT_CONFIDENCE
                ),
            }
    return table


def passes(block: dict[str, Any]) -> bool:
    """Kupiec and conditional-coverage p-values both above :data:`PASS_P`."""
    cc = block.get("conditional_coverage_p")
    return bool(block["kupiec_p"] > PASS_P and cc is not None and cc > PASS_P)


def choose(table: dict[str, dict[str, dict[str, Any]]], confidence: float) -> dict[str, Any]:
    """The rule fixed before looking: most strategies passing at ``confidence``, then at 99%,
    then the smallest mean ``|breach rate - expected|`` at ``confidence``, then the simpler model
    (the order of :data:`VAR_METHODS`)."""
    key, key99 = f"{confidence:.0%}", f"{REPORT_CONFIDENCE:.0%}"
    scores = {}
    for method, by_strategy in table.items():
        blocks = list(by_strategy.values())
        n_pass = sum(passes(b[key]) for b in blocks)
        n_pass99 = sum(passes(b[key99]) for b in blocks)
        gap = sum(abs(b[key]["breach_rate"] - (1 - confidence)) for b in blocks) / len(blocks)
        scores[method] = (n_pass, n_pass99, -gap, -VAR_METHODS.index(method))
    best = max(scores, key=lambda m: scores[m])
    return {
        "chosen": best,
        "rule": "most strategies with Kupiec p and conditional-coverage p > 0.05 at "
        f"{key}, then at {key99}, then the smallest mean |breach rate - {1 - confidence:.0%}|, "
        "then the simpler model",
        "scores": {
            m: {"pass": s[0], "pass_99": s[1], "mean_abs_gap": -s[2], "strategies": len(table[m])}
            for m, s in scores.items()
        },
    }


def markdown(table: dict[str, dict[str, dict[str, Any]]], confidence: float) -> str:
    """One row per (model, strategy): breach rates, Kupiec and conditional-coverage p."""
    key, key99 = f"{confidence:.0%}", f"{REPORT_CONFIDENCE:.0%}"

    def p(x: float | None) -> str:
        return "n/a" if x is None or not math.isfinite(x) else f"{x:.3f}"

    lines = [
        f"| model | strategy | days | breaches {key} | Kupiec p | CC p | breaches {key99} | "
        "Kupiec p | CC p |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, by_strategy in table.items():
        for name, b in by_strategy.items():
            a, c = b[key], b[key99]
            lines.append(
                f"| {method} | {name} | {a['days']} | {a['breach_rate']:.1%} | "
                f"{p(a['kupiec_p'])} | {p(a.get('conditional_coverage_p'))} | "
                f"{c['breach_rate']:.1%} | {p(c['kupiec_p'])} | "
                f"{p(c.get('conditional_coverage_p'))} |"
            )
    return "\n".join(lines) + "\n"


def run_study(cfg: RunConfig) -> dict[str, Any]:
    """The study (module doc) as a JSON-ready dict: folds, the table, and in research mode the
    chosen model."""
    plan = StudyPlan.from_config(cfg)
    data = load_market_data(cfg)
    folds, results = run_folds(cfg, plan, data)
    conf = cfg.risk.var_confidence
    table = backtests(results, conf)
    dates = data.dates
    out: dict[str, Any] = {
        "period": plan.period,
        "holdout_start": str(plan.holdout_start.date()),
        "test_days": f"{dates[folds[0].test[0]].date()}..{dates[folds[-1].test[1] - 1].date()}",
        "folds": len(folds),
        "confidence": conf,
        "table": table,
        "markdown": markdown(table, conf),
    }
    if plan.period == "research":
        out["choice"] = choose(table, conf)
    return out
