"""The plain-words verdict of a report: did the system beat each baseline, and how sure are we.

Each comparison uses the Sharpe point estimates and a *paired* stationary-bootstrap interval of
their difference (same days resampled for both series). The verdict says "did not beat"
whenever the system's Sharpe is not above the baseline's, and says when a win is within the
bootstrap noise; it never picks a favourable period or seed, it only describes what it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mtquant.evaluation.results import StrategyResult
from mtquant.evaluation.sharpe_stats import bootstrap_sharpe_difference_ci


@dataclass
class VerdictContext:
    """Who is the system, what period this is, and anything the reader must know.

    ``period`` reads inside a sentence ("the 6-month test 2018-07-02 to 2018-12-31");
    ``notes`` are appended to the verdict verbatim (e.g. "3 seeds, mean reported").
    """

    system: str
    period: str
    confidence: float = 0.95
    seed: int = 0
    notes: list[str] = field(default_factory=list)


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "n/a" if x is None else format(x, fmt)


def compare(
    system: StrategyResult,
    baseline: StrategyResult,
    summaries: Mapping[str, Mapping[str, Any]],
    ctx: VerdictContext,
) -> dict[str, Any]:
    """One comparison row: both Sharpes, the difference's interval, beat / did not beat."""
    a, b = summaries[system.name].get("sharpe"), summaries[baseline.name].get("sharpe")
    same_days = system.returns.shape == baseline.returns.shape and bool(
        (system.dates == baseline.dates).all()
    )
    ci = (
        bootstrap_sharpe_difference_ci(
            system.returns, baseline.returns, alpha=1.0 - ctx.confidence, seed=ctx.seed
        )
        if same_days
        else None
    )
    beat = None if a is None or b is None else bool(a > b)
    return {
        "system": system.name,
        "baseline": baseline.name,
        "sharpe_system": a,
        "sharpe_baseline": b,
        "difference_ci_low": None if ci is None else ci[0],
        "difference_ci_high": None if ci is None else ci[1],
        "beat": beat,
        "significant": None if ci is None or beat is None else bool(ci[0] > 0.0 or ci[1] < 0.0),
        "same_days": same_days,
    }


def comparison_sentence(row: Mapping[str, Any], ctx: VerdictContext) -> str:
    """'The X did (not) beat Y on <period>: Sharpe a vs b (95% CI of the difference lo to hi).'"""
    sys_name, base = row["system"], row["baseline"]
    level = f"{ctx.confidence:.0%}"
    if row["beat"] is None:
        return (
            f"{sys_name} could not be compared with {base} on {ctx.period}: a Sharpe ratio is "
            f"undefined (Sharpe {_num(row['sharpe_system'])} vs {_num(row['sharpe_baseline'])})."
        )
    lo, hi = row["difference_ci_low"], row["difference_ci_high"]
    ci = (
        f"{level} CI of the difference {_num(lo, '+.2f')} to {_num(hi, '+.2f')}"
        if lo is not None
        else "no paired interval: the two series do not cover the same days"
    )
    head = "beat" if row["beat"] else "did not beat"
    text = (
        f"{sys_name} {head} {base} on {ctx.period}: Sharpe {_num(row['sharpe_system'])} vs "
        f"{_num(row['sharpe_baseline'])} ({ci})."
    )
    if row["beat"] and row["significant"] is False:
        text += " The difference is within the bootstrap noise, so this is not evidence of an edge."
    return text


def verdict(
    results: Sequence[StrategyResult],
    summaries: Mapping[str, Mapping[str, Any]],
    ctx: VerdictContext,
    target_rows: Sequence[Mapping[str, Any]] = (),
    proxies: Sequence[str] = (),
) -> tuple[list[str], list[dict[str, Any]]]:
    """(sentences, comparison rows) for the system against every other strategy."""
    by_name = {r.name: r for r in results}
    system = by_name[ctx.system]
    rows = [compare(system, r, summaries, ctx) for r in results if r.name != ctx.system]
    lines = [comparison_sentence(row, ctx) for row in rows]
    if rows and all(row["beat"] is False for row in rows):
        lines.insert(0, f"{ctx.system} did not beat any baseline on {ctx.period}.")
    s = summaries[ctx.system]
    if s.get("dsr") is not None:
        dsr = s["dsr"]
        lines.append(
            f"Deflated Sharpe ratio for {s.get('n_trials', 1)} configuration(s) tried: {dsr:.2f} "
            f"(probability that the true Sharpe is above what the best skill-less trial would show)"
            + ("; below 0.95, so the Sharpe is not significant." if dsr < 0.95 else ".")
        )
    vb = s.get("var_backtest") or {}
    kp, ccp = vb.get("kupiec_p"), vb.get("conditional_coverage_p")
    if vb.get("status") == "measured" and any(p is not None and p < 0.05 for p in (kp, ccp)):
        cc = "n/a" if ccp is None else f"{ccp:.3f}"
        lines.append(
            f"The ex-ante VaR was breached on {vb['breach_rate']:.1%} of days against "
            f"{vb['expected_rate']:.1%} expected (Kupiec p = {kp:.3f}, Christoffersen "
            f"conditional-coverage p = {cc}): the VaR model is mis-calibrated on this period"
            + (
                ", although the executed VaR stayed within its limit every day."
                if s.get("var_compliance") == 1.0
                else "."
            )
        )
    if target_rows:
        met = [r for r in target_rows if r["status"] == "met"]
        missed = [r["target"] for r in target_rows if r["status"] != "met"]
        line = f"{len(met)} of {len(target_rows)} plan targets met"
        lines.append(line + (f"; not met or not measured: {'; '.join(missed)}." if missed else "."))
    if proxies:
        lines.append(
            "These results rest partly on proxy series, not real market data: "
            f"{', '.join(proxies)}."
        )
    lines.extend(ctx.notes)
    return lines, rows
