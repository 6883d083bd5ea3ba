"""Write ``metrics.json``, the PNG plots and one self-contained ``report.html``.

Besides the metrics, targets and plots, the page shows for every strategy the risk figures of
its summary (:func:`~mtquant.evaluation.results.summarise`): the VaR backtest at
``var_confidence`` and at 99% and the ES backtest ("not measured" where the forecasts were not
recorded), the correlation exposures, the sector allocation as shares of gross notional next to
the enforced cap, and the ``risk.stress`` windows (realised inside the period, and replayed on
the last book). ``data_snooping`` (:mod:`~mtquant.evaluation.snooping`) holds Hansen's SPA
p-values and Romano-Wolf's StepM superior set with each strategy as the benchmark, also tabled.

The page has no external references (CSS inline, images as base64 data URIs), so it can be
mailed or archived as one file. Both text files are written atomically (temp file in the same
directory, then ``os.replace``), and the JSON is dumped with ``allow_nan=False``: a NaN or inf
anywhere is an error naming its key, never a silent value in the report.
"""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtquant.errors import DataError
from mtquant.evaluation import plots
from mtquant.evaluation.results import StrategyResult, strategies_from
from mtquant.evaluation.snooping import data_snooping
from mtquant.evaluation.verdict import VerdictContext, verdict
from mtquant.risk_management.correlation_tracker import CorrelationTracker

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:0.6em 0 1.4em;font-size:0.9em}
th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}
th{background:#eee} td:first-child,th:first-child{text-align:left}
tr.proxy td{background:#fff3cd;font-weight:bold}
.met{color:#1a7f37}.notmet{color:#b42318;font-weight:bold}
.verdict{background:#f4f6fa;border-left:4px solid #345;padding:0.6em 1em}
img{max-width:100%;margin:0.5em 0}
"""

# (key in the summary, column title, format) of the metrics table
_METRIC_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("annual_return", "CAGR", "pct"),
    ("annual_volatility", "Volatility", "pct"),
    ("sharpe", "Sharpe", "ratio"),
    ("sharpe_ci", "Sharpe 95% CI", "ci"),
    ("sortino", "Sortino", "ratio"),
    ("max_drawdown", "Max DD", "pct"),
    ("calmar", "Calmar", "ratio"),
    ("hit_rate", "Hit rate", "pct"),
    ("turnover", "Turnover / day", "ratio"),
    ("costs_fraction", "Costs (% of capital)", "pct"),
    ("psr", "PSR", "ratio"),
    ("dsr", "DSR", "ratio"),
    ("var_breaches", "VaR breaches", "text"),
    ("kupiec_p", "Kupiec p", "ratio3"),
    ("christoffersen_cc_p", "Christoffersen CC p", "ratio3"),
    ("var_compliance", "VaR <= limit (enforced)", "pct"),
)


def fmt(value: Any, kind: str = "ratio") -> str:
    """A cell's text: ``None`` -> "n/a", fractions as percent, ratios with 2 decimals."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | np.floating | np.integer):
        if kind == "pct":
            return f"{100.0 * float(value):.2f}%"
        if kind == "ratio3":
            return f"{float(value):.3f}"
        if isinstance(value, int | np.integer):
            return str(int(value))
        return f"{float(value):.2f}"
    return str(value)


def to_jsonable(obj: Any, where: str = "$") -> Any:
    """Plain JSON types; raises DataError naming the key path of any NaN or inf."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj), where)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), where)
    if isinstance(obj, list | tuple):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item(), where)
    if isinstance(obj, float) and not np.isfinite(obj):
        raise DataError(f"metrics.json: non-finite value {obj!r} at {where}")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to a temp file next to ``path`` and rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a report is meant to be read by others
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def provenance_rows(provenance: Mapping[str, Any]) -> list[dict[str, str]]:
    """Rows ``{symbol, kind, source, note, first_date, last_date}`` from ``MarketData.provenance``."""
    return [
        {
            "symbol": sym,
            "kind": str(p.kind),
            "source": str(p.source),
            "note": str(getattr(p, "note", "")),
            "first_date": str(getattr(p, "first_date", "")),
            "last_date": str(getattr(p, "last_date", "")),
        }
        for sym, p in provenance.items()
    ]


def _measured(block: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A backtest block if it was measured, else ``{}``."""
    return block if block and block.get("status") == "measured" else {}


def _metric_cells(s: Mapping[str, Any]) -> dict[str, Any]:
    vb = _measured(s.get("var_backtest"))
    cells = dict(s)
    lo, hi = s.get("sharpe_ci_low"), s.get("sharpe_ci_high")
    cells["sharpe_ci"] = "n/a" if lo is None or hi is None else f"[{lo:.2f}, {hi:.2f}]"
    cells["costs_fraction"] = s["costs"]["total"]["fraction_of_initial_equity"]
    cells["var_breaches"] = f"{vb['breaches']} / {vb['days']}" if vb else None
    cells["kupiec_p"] = vb.get("kupiec_p")
    cells["christoffersen_cc_p"] = vb.get("conditional_coverage_p")
    return cells


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], row_classes: Sequence[str] = ()
) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if i < len(row_classes) and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _dict_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p>(empty)</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    return _table(cols, [[html.escape(fmt(r.get(c))) for c in cols] for r in rows])


def _target_value(row: Mapping[str, Any]) -> str:
    unit, value = row.get("unit", "ratio"), row["measured"]
    if unit == "fraction":
        return fmt(value, "pct")
    return fmt(value, "ratio3") + (" ms" if unit == "ms" and value is not None else "")


def _status_cell(status: str) -> str:
    cls = "met" if status == "met" else "notmet"
    return f'<span class="{cls}">{html.escape(status)}</span>'


def _target_rows_html(rows: Sequence[Mapping[str, Any]]) -> str:
    e = html.escape
    return _table(
        ["Target", "Measured", "Status", "How it is measured"],
        [
            [e(r["target"]), e(_target_value(r)), _status_cell(r["status"]), e(r.get("detail", ""))]
            for r in rows
        ],
    )


def _nm(value: Any, kind: str, measured: bool) -> str:
    return html.escape(fmt(value, kind) if measured else "not measured")


def _var_backtest_html(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """Per strategy and level: breaches, rate vs expected, Kupiec / Christoffersen p-values."""
    rows = []
    for name, s in summaries.items():
        for key in ("var_backtest", "var_backtest_99"):
            block = s.get(key) or {}
            vb = _measured(block)
            ok = bool(vb)
            conf = block.get("confidence")
            rows.append(
                [
                    html.escape(name),
                    html.escape("n/a" if conf is None else f"{conf:.0%}"),
                    _nm(f"{vb.get('breaches')} / {vb.get('days')}", "text", ok),
                    _nm(vb.get("breach_rate"), "pct", ok),
                    _nm(vb.get("expected_rate"), "pct", ok),
                    _nm(vb.get("kupiec_p"), "ratio3", ok),
                    _nm(vb.get("independence_p"), "ratio3", ok),
                    _nm(vb.get("conditional_coverage_p"), "ratio3", ok),
                    html.escape("" if ok else str(block.get("reason", ""))),
                ]
            )
    header = [
        "Strategy",
        "VaR level",
        "Breaches / days",
        "Breach rate",
        "Expected",
        "Kupiec p",
        "Christoffersen ind. p",
        "Cond. coverage p",
        "Note",
    ]
    return _table(header, rows)


def _es_backtest_html(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for name, s in summaries.items():
        block = s.get("es_backtest") or {}
        es = _measured(block)
        ok = bool(es)
        rows.append(
            [
                html.escape(name),
                _nm(es.get("breach_days"), "ratio", ok),
                _nm(es.get("mean_breach_loss"), "pct", ok),
                _nm(es.get("mean_es_forecast"), "pct", ok),
                _nm(es.get("loss_to_es_ratio"), "ratio3", ok),
                html.escape("" if ok else str(block.get("reason", ""))),
            ]
        )
    header = [
        "Strategy",
        "VaR-breach days",
        "Mean realised loss",
        "Mean forecast ES",
        "Loss / ES",
        "Note",
    ]
    return _table(header, rows)


def _correlation_html(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for name, s in summaries.items():
        w = s.get("weighted_correlation_exposure") or {}
        rows.append(
            [
                html.escape(name),
                html.escape(fmt(w.get("max"), "ratio3")),
                html.escape(fmt(w.get("mean"), "ratio3")),
                html.escape(fmt(w.get("days_with_pairs"))),
                html.escape(fmt(s.get("max_correlation_exposure"), "ratio3")),
            ]
        )
    header = [
        "Strategy",
        "Weighted exposure: max",
        "Weighted exposure: mean",
        "Days with 2+ legs",
        "Largest pairwise (enforced)",
    ]
    return _table(header, rows)


def _sector_html(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for name, s in summaries.items():
        sa = s.get("sector_allocation")
        if not sa:
            continue
        cap = sa.get("cap")
        for sector, share in sa["mean_share"].items():
            rows.append(
                [
                    html.escape(name),
                    html.escape(sector),
                    html.escape(fmt(share, "pct")),
                    html.escape(fmt(sa["max_gross"][sector], "ratio3")),
                    html.escape(fmt(cap, "ratio3")),
                ]
            )
    if not rows:
        return "<p>No sector labels were given.</p>"
    header = [
        "Strategy",
        "Sector",
        "Mean share of gross",
        "Max sector gross (x equity)",
        "Cap (x equity)",
    ]
    return _table(header, rows)


def _coordination_html(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    rows = [
        [html.escape(name), str(c["hedge_opportunity"]), str(c["correlation_alert"]),
         str(s.get("days", ""))]
        for name, s in summaries.items()
        if (c := s.get("coordination_days"))
    ]  # fmt: skip
    if not rows:
        return "<p>No specialist grouping or correlations were given.</p>"
    return _table(
        ["Strategy", "Hedge opportunity (days)", "Correlation alert (days)", "Days"], rows
    )


_STRESS_COLS = ("cumulative_return", "worst_day", "max_drawdown")


def _stress_html(summaries: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[str]]:
    """The realised table (windows inside the period) and the names of windows outside it."""
    rows, outside = [], []
    for name, s in summaries.items():
        for w in s.get("stress_windows") or []:
            if "days" not in w:
                outside.append(str(w["window"]))
                continue
            span = f"{w['first']}..{w['last']}"
            status = (
                f"partial: {span} of {w['start']}..{w['end']}" if w["status"] == "partial" else span
            )
            rows.append(
                [
                    html.escape(name),
                    html.escape(str(w["window"])),
                    html.escape(status),
                    html.escape(fmt(w["days"])),
                    html.escape(fmt(w.get("mean_var"), "pct")),
                    html.escape(
                        "not measured" if w.get("mean_es") is None else fmt(w["mean_es"], "pct")
                    ),
                ]
                + [html.escape(fmt(w[k], "pct")) for k in _STRESS_COLS]
            )
    header = [
        "Strategy",
        "Window",
        "Days covered",
        "Days",
        "Mean ex-ante VaR",
        "Mean ex-ante ES",
        "Cumulative return",
        "Worst day",
        "Max drawdown",
    ]
    return (_table(header, rows) if rows else ""), sorted(set(outside))


def _replay_html(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for name, s in summaries.items():
        for w in s.get("stress_replay") or []:
            if "days" not in w:
                cells = [html.escape("not in the data")] + [""] * (1 + len(_STRESS_COLS))
            else:
                span = f"{w['first']}..{w['last']}"
                if w["status"] == "partial":
                    span = f"partial: {span} of {w['start']}..{w['end']}"
                cells = [html.escape(span), html.escape(fmt(w["days"]))] + [
                    html.escape(fmt(w[k], "pct")) for k in _STRESS_COLS
                ]
            rows.append(
                [
                    html.escape(name),
                    html.escape(str(w["book_date"])),
                    html.escape(fmt(w["book_gross"], "ratio")),
                    html.escape(str(w["window"])),
                ]
                + cells
            )
    if not rows:
        return "<p>No market data was given for the replay.</p>"
    header = [
        "Strategy",
        "Book of",
        "Book gross (x equity)",
        "Window",
        "Window dates in the data",
        "Days",
        "Cumulative return",
        "Worst day",
        "Max drawdown",
    ]
    return _table(header, rows)


def _make_plots(
    out_dir: Path,
    results: Sequence[StrategyResult],
    system: StrategyResult,
    correlation: CorrelationTracker | None,
) -> dict[str, Path]:
    made = {
        "Equity curves": plots.plot_equity_curves(results, out_dir / "equity.png"),
        "Drawdowns": plots.plot_drawdowns(results, out_dir / "drawdown.png"),
    }
    if system.allocations is not None and system.appetite is not None:
        names = system.specialists or [
            f"specialist {k}" for k in range(system.allocations.shape[1])
        ]
        made["Allocations and risk appetite"] = plots.plot_allocations(
            system.dates, system.allocations, system.appetite, names, out_dir / "allocations.png"
        )
    if correlation is not None:
        path = out_dir / "correlation.png"
        correlation.visualize_correlation_heatmap(path)
        made["Correlation heatmap"] = path
    ex_ante = system.var_forecasts
    if ex_ante is None and system.interventions is not None:
        ex_ante = system.interventions.executed_var
    if ex_ante is not None:
        made["Ex-ante VaR vs realised P&L"] = plots.plot_var_vs_pnl(
            system.dates, system.returns, ex_ante, out_dir / "var_vs_pnl.png"
        )
    if system.sectors:
        made["Sector exposure"] = plots.plot_sector_exposure(
            system.dates, system.weights, system.sectors, out_dir / "sector_exposure.png"
        )
    return made


def _img(path: Path, title: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<h3>{html.escape(title)}</h3><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'


def _interventions_html(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for name, s in summaries.items():
        iv = s.get("risk_interventions")
        if not iv:
            continue
        counts = ", ".join(f"{k}: {v}" for k, v in iv["binding_counts"].items()) or "none"
        trips = ", ".join(f"{k}: {v}" for k, v in iv.get("breaker_trips", {}).items()) or "none"
        refused = ", ".join(f"{k}: {v}" for k, v in iv.get("orders_refused", {}).items()) or "none"
        rows.append(
            [
                html.escape(name),
                str(iv["days_changed"]),
                html.escape(counts),
                html.escape(trips),
                str(iv.get("breaker_days", 0)),
                html.escape(refused),
            ]  # fmt: skip
            + [
                fmt(iv[k], "pct")
                for k in (
                    "mean_proposed_var",
                    "mean_executed_var",
                    "max_proposed_var",
                    "max_executed_var",
                )
            ]
        )
    if not rows:
        return "<p>No risk-transform log was given.</p>"
    header = [
        "Strategy",
        "Days changed",
        "Binding limit (days)",
        "Circuit breaker trips (by trigger)",
        "Days the breaker acted",
        "Orders refused (by reason)",
        "Mean proposed VaR",
        "Mean executed VaR",
        "Max proposed VaR",
        "Max executed VaR",
    ]
    return _table(header, rows)


def _snooping_html(block: Mapping[str, Any]) -> str:
    """The SPA / StepM table of :func:`~mtquant.evaluation.snooping.data_snooping`'s block."""
    e = html.escape
    if block.get("status") != "measured":
        return f"<p>Not measured: {e(str(block.get('reason', '')))}.</p>"
    rows = []
    for t in block["tests"]:
        p = t["spa_pvalues"]
        same = t["identical_to_benchmark"]
        rows.append(
            [e(t["benchmark"]), e(", ".join(t["models"]) or "none")]
            + [e(fmt(p[k], "ratio3")) for k in ("lower", "consistent", "upper")]
            + [
                e(", ".join(t["stepm_superior"]) or "none"),
                e(fmt(t["block_size"])),
                e(f"identical returns: {', '.join(same)}" if same else ""),
            ]
        )
    b = block["bootstrap"]
    note = (
        f"<p>Each strategy in turn is the benchmark, the others are the models; loss = "
        f'{e(block["loss"])}. A small SPA p rejects "nothing beats the benchmark" with the '
        f"search over all strategies accounted for (consistent p is Hansen's); StepM lists the "
        f"strategies superior to the benchmark at family-wise error rate {block['size']:g}. "
        f"Superior = higher mean daily net return (arch's statistic is not studentised). "
        f"Stationary bootstrap, {b['reps']} draws, seed {block['seed']}, "
        f"{block['days']} common days {e(block['first'])}..{e(block['last'])}. The system "
        f"({e(block['system'])}) is superior to: "
        f"{e(', '.join(block['system_superior_to']) or 'none')}; superior to the system: "
        f"{e(', '.join(block['superior_to_system']) or 'none')}.</p>"
    )
    header = ["Benchmark", "Models", "SPA p lower", "SPA p consistent", "SPA p upper",
              "StepM: superior to the benchmark", "Block (days)", "Note"]  # fmt: skip
    return note + _table(header, rows)


def write_report(
    out_dir: str | Path,
    results: Sequence[StrategyResult],
    summaries: Sequence[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]],
    provenance_rows: Sequence[Mapping[str, str]],
    split_description: Mapping[str, str],
    verdict_context: VerdictContext,
    extra_tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    *,
    target_rows: Sequence[Mapping[str, Any]] = (),
    correlation: CorrelationTracker | None = None,
    enforced_rows: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Path]:
    """Write metrics.json, the PNGs and report.html into ``out_dir``; returns their paths.

    ``summaries`` come from :func:`~mtquant.evaluation.results.summarise` (one per result, by
    name); ``provenance_rows`` from :func:`provenance_rows`; ``split_description`` maps a split
    name to its date range; ``target_rows`` from ``target_table`` on the system's summary
    (realised outcomes), ``enforced_rows`` from ``enforced_table`` (limits that hold by
    construction, shown apart and not counted as targets); ``correlation`` is the
    :class:`CorrelationTracker` whose heatmap the report shows.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_name = strategies_from(results)
    sums = dict(summaries) if isinstance(summaries, Mapping) else {s["name"]: s for s in summaries}
    missing = [n for n in by_name if n not in sums]
    if missing or verdict_context.system not in by_name:
        raise DataError(
            f"write_report: no summary for {missing} or system {verdict_context.system!r} "
            f"not among results {list(by_name)}"
        )
    proxies = [r["symbol"] for r in provenance_rows if r.get("kind") != "real"]
    lines, comparisons = verdict(results, sums, verdict_context, target_rows, proxies)
    system = by_name[verdict_context.system]
    snooping = data_snooping(results, verdict_context.system, verdict_context.seed)
    pngs = _make_plots(out, results, system, correlation)
    extra = dict(extra_tables or {})

    payload = {
        "system": verdict_context.system,
        "period": verdict_context.period,
        "split": dict(split_description),
        "provenance": list(provenance_rows),
        "strategies": {n: sums[n] for n in by_name},
        "targets": list(target_rows),
        "enforced": list(enforced_rows),
        "comparisons": comparisons,
        "verdict": lines,
        "extra_tables": extra,
        "plots": {title: p.name for title, p in pngs.items()},
        "data_snooping": snooping,
    }
    text = json.dumps(to_jsonable(payload), indent=2, allow_nan=False)
    metrics_path = atomic_write_text(out / "metrics.json", text)

    e = html.escape
    prov_table = _table(
        ["Symbol", "Kind", "Source", "Note", "First date", "Last date"],
        [
            [
                e(r.get(k, ""))
                for k in ("symbol", "kind", "source", "note", "first_date", "last_date")
            ]
            for r in provenance_rows
        ],
        ["" if r.get("kind") == "real" else "proxy" for r in provenance_rows],
    )
    proxy_note = (
        f"<p><b>Proxies (not real market data): {e(', '.join(proxies))}.</b></p>"
        if proxies
        else "<p>All instruments are real market data.</p>"
    )
    split_table = _table(["Split", "Dates"], [[e(k), e(v)] for k, v in split_description.items()])
    metric_rows = []
    for name in by_name:
        cells = _metric_cells(sums[name])
        metric_rows.append(
            [e(name)] + [e(fmt(cells.get(k), kind)) for k, _, kind in _METRIC_COLUMNS]
        )
    metrics_table = _table(["Strategy"] + [t for _, t, _ in _METRIC_COLUMNS], metric_rows)
    target_html = _target_rows_html(target_rows) if target_rows else "<p>No targets scored.</p>"
    if enforced_rows:
        target_html += (
            "<h3>Enforced by construction</h3><p>The risk transform makes these hold on every "
            "decision, so they cannot fail and are not counted as targets; the realised "
            "outcomes are the targets above.</p>" + _target_rows_html(enforced_rows)
        )
    stress_table, outside = _stress_html(sums)
    outside_note = (
        f"<p>Windows outside the evaluated period: {e(', '.join(outside))}.</p>" if outside else ""
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>MTQuant report: {e(verdict_context.system)}</title><style>{_CSS}</style></head><body>",
        f"<h1>MTQuant evaluation: {e(verdict_context.system)}</h1>",
        f"<p>Period: {e(verdict_context.period)}. All figures are net of spread, commission, "
        "slippage and swap.</p>",
        "<h2>Verdict</h2><div class='verdict'>"
        + "".join(f"<p>{e(x)}</p>" for x in lines)
        + "</div>",
        "<h2>Data provenance</h2>",
        proxy_note,
        prov_table,
        "<h2>Split</h2>",
        split_table,
        "<h2>Metrics</h2>",
        metrics_table,
        "<h2>Data snooping: SPA and StepM</h2>",
        _snooping_html(snooping),
        "<h2>Targets</h2>",
        target_html,
        "<h2>Risk transform interventions</h2>",
        _interventions_html(sums),
        "<h2>VaR backtest</h2>",
        "<p>A breach is a day whose loss is strictly beyond the ex-ante VaR (made with data up "
        "to the day before). Kupiec POF tests the breach rate against the expected one; "
        "Christoffersen tests the independence of breaches and, jointly, the conditional "
        "coverage. p &lt;= 0.05 rejects a calibrated VaR.</p>",
        _var_backtest_html(sums),
        "<h3>Expected Shortfall on VaR-breach days</h3>",
        _es_backtest_html(sums),
        "<h2>Correlation exposure</h2>",
        "<p>Weighted: the size-weighted mean effective correlation "
        "sum|w<sub>i</sub>||w<sub>j</sub>|sign(w<sub>i</sub>)sign(w<sub>j</sub>)&rho;<sub>ij</sub>"
        " / sum|w<sub>i</sub>||w<sub>j</sub>| over held pairs of the executed book (0 with fewer "
        "than two legs; mean over days with two or more legs). Largest pairwise: the max of "
        "sign(w<sub>i</sub>)sign(w<sub>j</sub>)&rho;<sub>ij</sub>, the figure the risk transform "
        "enforces.</p>",
        _correlation_html(sums),
        "<h2>Sector allocation</h2>",
        "<p>Mean share of gross notional (sum |w| per sector / total sum |w|, over days with a "
        "book) and the largest sector gross as a multiple of equity, next to the enforced cap "
        "(max_sector_allocation x max_gross_leverage).</p>",
        _sector_html(sums),
        "<h2>Coordination between specialists</h2>",
        "<p>Days on which the executed book held legs of two specialists that the communication "
        "hub flags: a hedge opportunity (opposite legs of instruments correlated beyond 0.7) or a "
        "correlation alert (same-direction legs, effective correlation above 0.7).</p>",
        _coordination_html(sums),
        "<h2>Stress windows</h2>",
        "<p>Realised inside each named window of the evaluated period (partly inside: over the "
        "overlap).</p>",
        stress_table or "<p>No configured stress window lies in the evaluated period.</p>",
        outside_note,
        "<h3>Scenario check: windows replayed on the last book</h3>",
        "<p>Each window's daily instrument returns applied to the strategy's last executed "
        "book, weights held fixed (rebalanced daily), equity compounded.</p>",
        _replay_html(sums),
    ]
    for title, rows in extra.items():
        parts += [f"<h2>{e(title)}</h2>", _dict_table(rows)]
    parts.append("<h2>Plots</h2>")
    parts += [_img(p, title) for title, p in pngs.items()]
    parts.append("</body></html>")
    html_path = atomic_write_text(out / "report.html", "\n".join(parts))
    return {"metrics": metrics_path, "html": html_path, **{p.stem: p for p in pngs.values()}}
