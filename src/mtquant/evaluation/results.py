"""What one strategy did on one period (:class:`StrategyResult`), its summary, and the targets.

``summarise`` turns a result into a JSON-ready dict of every metric (``None`` where a metric is
undefined, see :mod:`mtquant.evaluation.metrics`); ``target_table`` scores a summary against the
plan's targets (sprint-3 plan, Day 27) with *realised* outcomes, and ``enforced_table`` lists the
limits the risk transform enforces by construction (they cannot fail, so they are kept apart).
Evaluation and backtest scripts fill a ``StrategyResult`` per strategy from the environment's
logs and hand them to :func:`mtquant.evaluation.report.write_report`.

Conventions: VaR and ES are positive fractions of equity, ex ante (made with data up to the day
before); a VaR breach is a loss strictly beyond the VaR (``returns[t] < -VaR[t]``). A figure that
cannot be computed from what the result holds is reported as ``{"status": "not measured",
"reason": ...}`` (or ``None``), never estimated from something else: in particular a 99% VaR is
never derived by rescaling the 95% one.
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
from mtquant.evaluation.var_backtest import es_backtest, var_backtest
from mtquant.risk_management.correlation_exposure import HELD_EPS, weighted_correlation_exposure
from mtquant.risk_management.stress import NamedWindow, path_stats, replay_window, window_span

VAR_COMPLIANCE_RTOL = 1e-9  # the risk transform scales VaR to exactly the limit; allow rounding
SECTOR_CAP_RTOL = 1e-9  # the transform scales a sector to exactly its cap; allow rounding
SIGNIFICANCE = 0.05  # a VaR backtest "passes" when its p-values are above this
NOT_MEASURED = "not measured"
MEASURED = "measured"


@dataclass
class RiskInterventions:
    """How often and how hard the risk transform changed the proposed book.

    ``binding_counts[limit]``: days on which that limit bound (``"none"`` excluded);
    ``proposed_var`` / ``executed_var`` ``[T]``: ex-ante VaR before / after the transform;
    ``alert_counts[trigger]``: decisions on which the circuit breaker tripped on that trigger;
    ``breaker_days``: decisions its response (scale down or flatten) applied to;
    ``rejected_counts[reason]``: orders the pre-trade gate refused, by reason
    (:mod:`mtquant.risk_management.guard`).
    """

    binding_counts: dict[str, int]
    proposed_var: NDArray[np.float64]
    executed_var: NDArray[np.float64]
    alert_counts: dict[str, int] = field(default_factory=dict)
    breaker_days: int = 0
    rejected_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class StrategyResult:
    """One strategy over one period, day t = the day's close after trading at t.

    ``returns[t]`` daily simple return of equity net of costs; ``equity[t]`` USD equity after day
    t (``initial_equity`` before day 0); ``weights[t]`` ``[T, N]`` notional / equity held;
    ``costs[c]`` USD paid per day for c in spread, commission, slippage, swap;
    ``var_forecasts[t]`` ex-ante VaR (positive fraction) of the book held over day t, made with
    data up to t-1, at the risk config's ``var_confidence``; ``var_forecasts_99[t]`` the same at
    99% and ``es_forecasts[t]`` the ex-ante Expected Shortfall at ``var_confidence`` (``None``
    until the risk transform produces them); ``allocations`` ``[T, S]`` and ``appetite`` ``[T]``
    only for the hierarchical system; ``correlation_exposure[t]`` the largest effective
    correlation of two held legs; ``correlation_matrices[t]`` ``[T, N, N]`` the return correlation
    behind the decision of the book ``weights[t]`` (from the covariance the transform used), from
    which the position-weighted correlation exposure is measured.
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
    var_forecasts_99: NDArray[np.float64] | None = None  # [T]
    es_forecasts: NDArray[np.float64] | None = None  # [T]
    correlation_matrices: NDArray[np.float64] | None = None  # [T, N, N]
    groups: list[str] = field(default_factory=list)  # [N] the specialist trading each instrument

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
        for key in (
            "var_forecasts",
            "appetite",
            "correlation_exposure",
            "var_forecasts_99",
            "es_forecasts",
        ):
            value = getattr(self, key)
            if value is not None:
                setattr(self, key, np.asarray(value, dtype=np.float64))
                self._check_len(key, getattr(self, key), (t,))
        if self.correlation_matrices is not None:
            self.correlation_matrices = np.asarray(self.correlation_matrices, dtype=np.float64)
            self._check_len("correlation_matrices", self.correlation_matrices, (t, n, n))
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


def ex_ante_var(result: StrategyResult) -> NDArray[np.float64] | None:
    """The ex-ante VaR at ``var_confidence``: ``var_forecasts``, else the executed VaR logged by
    the risk transform (the same series for results built from a rollout), else None."""
    if result.var_forecasts is not None:
        return result.var_forecasts
    if result.interventions is not None:
        return np.asarray(result.interventions.executed_var, dtype=np.float64)
    return None


def _not_measured(reason: str, **extra: Any) -> dict[str, Any]:
    return {**extra, "status": NOT_MEASURED, "reason": reason}


def var_backtest_block(
    returns: NDArray[np.float64],
    forecasts: NDArray[np.float64] | None,
    confidence: float,
    what: str,
) -> dict[str, Any]:
    """VaR backtest of ``forecasts`` at ``confidence`` (``"status": "measured"``), or a
    "not measured" block naming the missing series ``what``."""
    if forecasts is None:
        return _not_measured(
            f"no ex-ante {confidence:.0%} VaR forecasts ({what} is not recorded)",
            confidence=confidence,
        )
    return {
        "confidence": confidence,
        "status": MEASURED,
        **var_backtest(returns, forecasts, confidence),
    }


def es_backtest_block(result: StrategyResult, var_confidence: float) -> dict[str, Any]:
    """ES backtest on the VaR-breach days at ``var_confidence`` or a "not measured" block."""
    ex_ante = ex_ante_var(result)
    if result.es_forecasts is None or ex_ante is None:
        missing = "es_forecasts" if result.es_forecasts is None else "var_forecasts"
        return _not_measured(
            f"no ex-ante Expected Shortfall forecasts ({missing} is not recorded)",
            confidence=var_confidence,
        )
    return {
        "confidence": var_confidence,
        "status": MEASURED,
        **es_backtest(result.returns, ex_ante, result.es_forecasts),
    }


def sector_allocation(
    weights: NDArray[np.float64], sectors: Sequence[str], cap: float | None = None
) -> dict[str, Any]:
    """Sector allocation of a book history ``[T, N]``: shares of gross and gross vs the cap.

    ``mean_share[s]``: mean over the days with a non-empty book (total ``sum |w| > 0``) of the
    sector's share of gross notional, ``sum_{i in s} |w_i| / sum_i |w_i|`` (shares add to 1);
    ``max_gross[s]``: the largest sector gross ``sum_{i in s} |w_i|`` as a multiple of equity,
    next to ``cap`` (``max_sector_allocation x max_gross_leverage``, the enforced limit) when
    given; ``within_cap`` whether every sector stayed within it (relative tolerance 1e-9).
    """
    per_sector = m.exposure_by_sector(weights, sectors, gross=True)  # {sector: [T]}
    names = list(per_sector)
    gross = np.stack([per_sector[k] for k in names], axis=1)  # [T, K]
    total = gross.sum(axis=1)
    book = total > HELD_EPS
    days = int(book.sum())
    shares = gross[book] / total[book, None] if days else None
    max_gross = {k: float(gross[:, i].max()) for i, k in enumerate(names)}
    return {
        "days_with_book": days,
        "mean_share": {
            k: (None if shares is None else float(shares[:, i].mean())) for i, k in enumerate(names)
        },
        "max_gross": max_gross,
        "cap": cap,
        "within_cap": (
            None if cap is None else bool(max(max_gross.values()) <= cap * (1.0 + SECTOR_CAP_RTOL))
        ),
    }


def weighted_correlation_summary(result: StrategyResult) -> dict[str, Any] | None:
    """Position-weighted correlation exposure of the executed books (``None`` without
    ``correlation_matrices``): ``max`` over all days (0 on days with fewer than two legs),
    ``mean`` over the ``days_with_pairs`` days holding at least two legs (``None`` if none)."""
    if result.correlation_matrices is None:
        return None
    wce = weighted_correlation_exposure(result.weights, result.correlation_matrices)  # [T]
    pairs = (np.abs(result.weights) > HELD_EPS).sum(axis=1) >= 2
    return {
        "max": float(wce.max()),
        "mean": float(wce[pairs].mean()) if pairs.any() else None,
        "days_with_pairs": int(pairs.sum()),
    }


def _window_head(w: NamedWindow) -> dict[str, Any]:
    return {"window": w.name, "start": str(w.start), "end": str(w.end)}


def stress_window_rows(
    result: StrategyResult, windows: Sequence[NamedWindow]
) -> list[dict[str, Any]]:
    """What the strategy forecast and realised inside each named window of the evaluated period.

    Per window: ``status`` "inside", "partial" (only ``first``..``last`` of the window lies in the
    period; the figures cover that overlap) or "outside the evaluated period" (no figures);
    ``mean_var`` / ``mean_es`` the mean ex-ante VaR / ES over the window's days (``None``: not
    recorded), and the realised ``cumulative_return``, ``worst_day`` (signed returns) and
    ``max_drawdown`` (positive, from the window's start).
    """
    ex_ante = ex_ante_var(result)
    rows: list[dict[str, Any]] = []
    for w in windows:
        span = window_span(result.dates, w.start, w.end)
        if span is None:
            rows.append({**_window_head(w), "status": "outside the evaluated period"})
            continue
        sl = slice(span.start, span.stop)
        es = result.es_forecasts
        rows.append(
            {
                **_window_head(w),
                "status": "partial" if span.partial else "inside",
                "first": str(result.dates[span.start]),
                "last": str(result.dates[span.stop - 1]),
                "days": span.days,
                "mean_var": None if ex_ante is None else float(ex_ante[sl].mean()),
                "mean_es": None if es is None else float(es[sl].mean()),
                **path_stats(result.returns[sl]),
            }
        )
    return rows


def stress_replay_rows(
    result: StrategyResult,
    windows: Sequence[NamedWindow],
    market_dates: NDArray[Any],
    market_returns: NDArray[np.float64],
) -> list[dict[str, Any]]:
    """Scenario check: each window's instrument returns replayed on the strategy's last book.

    ``market_dates`` ``[T]`` and ``market_returns`` ``[T, N]`` are the loaded data's daily USD
    position returns (the features' ``returns``). Per window: ``status`` "replayed", "partial"
    (the data covers only ``first``..``last`` of the window; replayed over that) or "not in the
    data"; the book (``book_date``, its gross) and the replay's ``cumulative_return``,
    ``worst_day`` and ``max_drawdown`` (see :func:`~mtquant.risk_management.stress.replay_window`).
    """
    dates = np.asarray(market_dates, dtype="datetime64[D]")
    rets = np.asarray(market_returns, dtype=np.float64)
    n = result.weights.shape[1]
    if rets.ndim != 2 or rets.shape != (dates.size, n):
        raise DataError(
            f"{result.name}: market returns {rets.shape} do not match [{dates.size}, {n}]"
        )
    book = result.weights[-1]
    head = {"book_date": str(result.dates[-1]), "book_gross": float(np.abs(book).sum())}
    rows: list[dict[str, Any]] = []
    for w in windows:
        span = window_span(dates, w.start, w.end)
        if span is None:
            rows.append({**_window_head(w), **head, "status": "not in the data"})
            continue
        rep = replay_window(book, rets[span.start : span.stop])
        rep.pop("daily_returns")
        rows.append(
            {
                **_window_head(w),
                **head,
                "status": "partial" if span.partial else "replayed",
                "first": str(dates[span.start]),
                "last": str(dates[span.stop - 1]),
                **rep,
            }
        )
    return rows


def summarise(
    result: StrategyResult,
    n_trials: int = 1,
    var_coverage: float = 0.95,
    var_limit: float = 0.02,
    seed: int = 0,
    n_boot: int = 2000,
    trial_sharpe_variance: float | None = None,
    *,
    sector_cap: float | None = None,
    stress_windows: Sequence[NamedWindow] = (),
    market: tuple[NDArray[Any], NDArray[np.float64]] | None = None,
) -> dict[str, Any]:
    """Every metric of one strategy as a JSON-ready dict (``None`` = undefined, shown "n/a").

    ``n_trials`` configurations tried (deflates the Sharpe); ``var_coverage`` is the confidence of
    the VaR forecasts (``risk.var_confidence``). Risk figures:

    - ``var_backtest`` (at ``var_coverage``) and ``var_backtest_99``: realised breaches of the
      ex-ante VaR, breach rate vs expected, Kupiec POF, Christoffersen independence and
      conditional-coverage LR and p-values (``status`` "measured"), or "not measured" when the
      forecasts were not recorded; ``es_backtest`` likewise for the Expected Shortfall;
    - ``var_compliance``: share of days whose ex-ante VaR is <= ``var_limit`` (relative tolerance
      1e-9) -- enforced by the risk transform, it cannot fail for a rollout's result;
    - ``max_correlation_exposure``: the largest pairwise effective correlation (enforced);
      ``weighted_correlation_exposure``: the realised position-weighted one (max and mean);
    - ``sector_allocation``: mean shares of gross notional per sector and max sector gross vs
      ``sector_cap`` (``max_sector_allocation x max_gross_leverage``);
    - ``stress_windows``: the realised figures inside each of ``stress_windows``;
      ``stress_replay``: the windows' returns of ``market`` ``(dates [T], returns [T, N])``
      replayed on the last book (``None`` without ``market``).
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
    ex_ante = ex_ante_var(result)
    out["var_backtest"] = var_backtest_block(r, ex_ante, var_coverage, "var_forecasts")
    out["var_backtest_99"] = var_backtest_block(
        r, result.var_forecasts_99, 0.99, "var_forecasts_99"
    )
    out["es_backtest"] = es_backtest_block(result, var_coverage)
    if ex_ante is not None:
        out["var_compliance"] = float(np.mean(ex_ante <= var_limit * (1.0 + VAR_COMPLIANCE_RTOL)))
        out["max_ex_ante_var"] = float(ex_ante.max())
    else:
        out["var_compliance"] = None
        out["max_ex_ante_var"] = None
    ce = result.correlation_exposure
    out["max_correlation_exposure"] = None if ce is None else float(ce.max())
    out["weighted_correlation_exposure"] = weighted_correlation_summary(result)
    out["sector_allocation"] = (
        sector_allocation(result.weights, result.sectors, sector_cap) if result.sectors else None
    )
    out["stress_windows"] = stress_window_rows(result, stress_windows)
    out["stress_replay"] = (
        None if market is None else stress_replay_rows(result, stress_windows, *market)
    )
    out["risk_interventions"] = _interventions_summary(result.interventions)
    out["coordination_days"] = coordination_days(result)
    return out


def coordination_days(result: StrategyResult) -> dict[str, int] | None:
    """Days on which the book held legs of two specialists that the communication hub flags
    (:meth:`CommunicationHub.check_coordination_opportunities`, its default thresholds):
    ``hedge_opportunity`` (opposite legs of instruments correlated beyond 0.7: the specialists
    spend risk hedging each other) and ``correlation_alert`` (same-direction legs whose effective
    correlation exceeds 0.7: concentration across specialists). None without the specialist of
    each instrument or the day's correlations."""
    from mtquant.agents.hierarchical.communication import CommunicationHub

    if not result.groups or result.correlation_matrices is None or not result.symbols:
        return None
    hub = CommunicationHub(message_history_size=1)
    names = list(dict.fromkeys(result.groups))
    days = {"hedge_opportunity": 0, "correlation_alert": 0}
    for w, corr in zip(result.weights, result.correlation_matrices, strict=True):
        exposures = {
            name: {s: float(x) for s, g, x in zip(result.symbols, result.groups, w, strict=True)
                   if g == name and x != 0.0}
            for name in names
        }  # fmt: skip
        kinds = {
            sig.signal_type
            for sig in hub.check_coordination_opportunities(
                exposures, corr, result.symbols, correlation_id=""
            )
        }
        for kind in kinds:
            days[kind] += 1
    return days


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
        "breaker_trips": {k: int(v) for k, v in iv.alert_counts.items()},
        "breaker_days": int(iv.breaker_days),
        "orders_refused": {k: int(v) for k, v in iv.rejected_counts.items()},
        "days_changed": int(np.sum(~np.isclose(proposed, executed, rtol=1e-9, atol=1e-12))),
        "mean_proposed_var": float(proposed.mean()),
        "mean_executed_var": float(executed.mean()),
        "max_proposed_var": float(proposed.max()),
        "max_executed_var": float(executed.max()),
    }


def _status(value: float | None, met: bool) -> str:
    return NOT_MEASURED if value is None else ("met" if met else "not met")


def _p(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def target_table(
    summary: Mapping[str, Any],
    *,
    latency_ms: float | None = None,
    sharpe_target: float = 2.0,
    max_drawdown_target: float = 0.15,
    correlation_target: float = 0.7,
    latency_target_ms: float = 100.0,
    period: str = "6-month test",
    significance: float = SIGNIFICANCE,
    var_limit: float | None = None,
    correlation_rule: str = "pairwise",
) -> list[dict[str, Any]]:
    """Rows ``{target, measured, unit, status, detail}`` for the plan's targets, measured on the
    realised outcome (so each can fail).

    The plan's "VaR compliance 100%" is scored as the VaR backtest of the ex-ante VaR: measured =
    the realised breach rate, "met" when the Kupiec POF p and the Christoffersen
    conditional-coverage p are both above ``significance``. The plan's "max correlation
    exposure" is the position-weighted correlation exposure of the executed books (max over the
    period). The figures the risk transform enforces (VaR within the limit, largest pairwise
    correlation) are in :func:`enforced_table`; with ``correlation_rule="weighted"`` the
    transform enforces the position-weighted exposure itself, so that row moves there too (a
    target read back from its own limit cannot fail). ``unit`` is "ratio", "fraction" (shown as
    percent) or "ms"; ``status`` is "met", "not met" or "not measured" (a value the caller did
    not provide is never counted as met). ``var_limit`` only names the enforced limit in the
    VaR row's detail.
    """
    sharpe = summary.get("sharpe")
    mdd = summary.get("max_drawdown")
    vb = summary.get("var_backtest") or {}
    measured = vb.get("status") == MEASURED
    rate = vb.get("breach_rate") if measured else None
    kp, ccp = vb.get("kupiec_p"), vb.get("conditional_coverage_p")
    conf = float(vb.get("confidence", 0.95))
    var_ok = kp is not None and ccp is not None and kp > significance and ccp > significance
    if measured:
        var_detail = (
            f"{vb['breaches']} breaches in {vb['days']} days = {vb['breach_rate']:.1%} vs "
            f"{vb['expected_rate']:.1%} expected; Kupiec p = {_p(kp)}, Christoffersen "
            f"independence p = {_p(vb.get('independence_p'))}, conditional-coverage p = "
            f"{_p(ccp)}; met when both Kupiec p and conditional-coverage p > {significance:g}"
        )
        if var_limit is not None:
            var_detail += f" (the executed VaR itself is capped at {var_limit:.0%})"
    else:
        var_detail = str(vb.get("reason", "no ex-ante VaR recorded"))
    wce = summary.get("weighted_correlation_exposure") or {}
    corr = wce.get("max")
    corr_detail = (
        "size-weighted mean effective correlation sum|w_i||w_j|s_i s_j rho_ij / sum|w_i||w_j| "
        f"of the held pairs, max over days; mean {_p(wce.get('mean'))} over "
        f"{wce.get('days_with_pairs')} days with two or more legs"
        if wce
        else "no correlation matrices recorded"
    )
    rows: list[tuple[str, float | None, str, bool, str]] = [
        (
            f"Sharpe ratio > {sharpe_target:g} ({period})",
            sharpe,
            "ratio",
            sharpe is not None and sharpe > sharpe_target,
            "annualised, net of costs",
        ),
        (
            f"Max drawdown < {max_drawdown_target:.0%}",
            mdd,
            "fraction",
            mdd is not None and mdd < max_drawdown_target,
            "from the initial capital, compounded",
        ),
        (
            f"VaR backtest: breaches of the ex-ante {conf:.0%} VaR at the expected "
            f"{1.0 - conf:.0%} rate (Kupiec and conditional-coverage p > {significance:g})",
            rate if kp is not None and ccp is not None else None,
            "fraction",
            var_ok,
            var_detail,
        ),
        (
            f"Max position-weighted correlation exposure < {correlation_target:g}",
            corr,
            "ratio",
            corr is not None and corr < correlation_target,
            corr_detail,
        ),
        (
            f"Decision latency < {latency_target_ms:g} ms",
            latency_ms,
            "ms",
            latency_ms is not None and latency_ms < latency_target_ms,
            "median of HierarchicalTradingSystem.step()",
        ),
    ]
    if correlation_rule == "weighted":
        rows = [r for r in rows if not r[0].startswith("Max position-weighted correlation")]
    return [
        {"target": t, "measured": v, "unit": unit, "status": _status(v, ok), "detail": d}
        for t, v, unit, ok, d in rows
    ]


def enforced_table(
    summary: Mapping[str, Any],
    *,
    var_limit: float = 0.02,
    var_compliance_target: float = 1.0,
    correlation_target: float = 0.7,
    sector_cap: float | None = None,
    correlation_rule: str = "pairwise",
) -> list[dict[str, Any]]:
    """Rows ``{target, measured, unit, status, detail}`` of the limits the risk transform
    enforces on every decision (enforced by construction: they hold unless the transform is
    broken, so they are not counted as plan targets).

    - share of days whose executed ex-ante VaR is within ``var_limit``;
    - the correlation rule's exposure (<= ``correlation_target``): the largest pairwise effective
      correlation of two held legs, or with ``correlation_rule="weighted"`` the position-weighted
      exposure, measured on the book as marked at the close;
    - the largest sector gross notional as a multiple of equity (<= ``sector_cap``), measured on
      the book as marked at the close, so price moves after the fill can push it a little over.
    """
    comp = summary.get("var_compliance")
    corr = summary.get("max_correlation_exposure")
    sa = summary.get("sector_allocation") or {}
    sector = max(sa["max_gross"].values()) if sa.get("max_gross") else None
    cap = sector_cap if sector_cap is not None else sa.get("cap")
    rows: list[tuple[str, float | None, str, bool, str]] = [
        (
            f"Ex-ante VaR within the {var_limit:.0%} limit on {var_compliance_target:.0%} of "
            "days (enforced by construction)",
            comp,
            "fraction",
            comp is not None and comp >= var_compliance_target,
            "the transform scales every book to VaR <= limit; see the VaR backtest for the "
            "realised losses",
        ),
    ]
    if correlation_rule == "weighted":
        wmax = (summary.get("weighted_correlation_exposure") or {}).get("max")
        rows.append(
            (
                f"Position-weighted correlation exposure <= {correlation_target:g} "
                "(enforced by construction)",
                wmax,
                "ratio",
                wmax is not None and wmax <= correlation_target * (1.0 + SECTOR_CAP_RTOL),
                "max over days of sum|w_i||w_j|s_i s_j rho_ij / sum|w_i||w_j| over held pairs; "
                "enforced at each decision, measured on the book as marked at the close",
            )
        )
    else:
        rows.append(
            (
                f"Largest pairwise effective correlation <= {correlation_target:g} "
                "(enforced by construction)",
                corr,
                "ratio",
                corr is not None and corr <= correlation_target * (1.0 + VAR_COMPLIANCE_RTOL),
                "max over days of sign(w_i)sign(w_j)rho_ij over held pairs",
            )
        )
    if cap is not None:
        rows.append(
            (
                f"Max sector gross <= {cap:g} x equity (enforced by construction)",
                sector,
                "ratio",
                sector is not None and sector <= cap * (1.0 + SECTOR_CAP_RTOL),
                "cap = max_sector_allocation x max_gross_leverage; enforced at each decision, "
                "measured on the book as marked at the close",
            )
        )
    return [
        {"target": t, "measured": v, "unit": unit, "status": _status(v, ok), "detail": d}
        for t, v, unit, ok, d in rows
    ]


def strategies_from(results: Sequence[StrategyResult]) -> dict[str, StrategyResult]:
    """Results by name; two strategies with one name would overwrite each other in the report."""
    names = [r.name for r in results]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"strategy results: duplicate names {dup}")
    return {r.name: r for r in results}
