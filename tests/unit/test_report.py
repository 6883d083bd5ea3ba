"""StrategyResult, summarise, target_table and the report writer on small synthetic results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mtquant.data.market_data import Provenance
from mtquant.errors import DataError
from mtquant.evaluation import (
    RiskInterventions,
    StrategyResult,
    VerdictContext,
    provenance_rows,
    summarise,
    target_table,
    write_report,
)
from mtquant.evaluation.report import to_jsonable

T = 60
SYMBOLS = ["EURUSD", "XAUUSD", "SPX500"]
SECTORS = ["fx", "commodities", "equity"]


def make_result(name: str, returns: np.ndarray, hierarchical: bool = False) -> StrategyResult:
    dates = np.datetime64("2018-07-02") + np.arange(T)
    rng = np.random.default_rng(len(name))
    weights = rng.uniform(-0.5, 0.5, (T, 3))
    equity = 100_000.0 * np.cumprod(1.0 + returns)
    costs = {c: np.full(T, 1.5) for c in ("spread", "commission", "slippage")}
    costs["swap"] = np.full(T, -0.5)
    kwargs = {}
    if hierarchical:
        alloc = rng.dirichlet(np.ones(3), T)
        var = np.full(T, 0.02)
        var[5] = 0.021  # one day above the 2% limit
        kwargs = {
            "var_forecasts": var,
            "interventions": RiskInterventions(
                {"correlation": 3, "var": 9}, proposed_var=var * 1.3, executed_var=var
            ),
            "allocations": alloc,
            "appetite": rng.uniform(0.2, 1.0, T),
            "specialists": ["forex", "commodities", "equity"],
            "correlation_exposure": np.full(T, 0.5),
        }
    return StrategyResult(
        name,
        dates,
        returns,
        equity,
        weights,
        costs,
        100_000.0,
        symbols=SYMBOLS,
        sectors=SECTORS,
        **kwargs,
    )


@pytest.fixture
def results() -> list[StrategyResult]:
    base = np.random.default_rng(0).normal(0.0005, 0.01, T)
    return [
        make_result("hierarchical", base - 0.002, hierarchical=True),  # worse by construction
        make_result("equal_weight", base),
        make_result("cash", np.zeros(T)),
    ]


def test_summarise_gives_every_metric_without_nan(results):
    s = summarise(results[0], n_trials=4, var_limit=0.02, n_boot=200)
    for key in (
        "sharpe",
        "sortino",
        "max_drawdown",
        "calmar",
        "psr",
        "dsr",
        "turnover",
        "sharpe_ci_low",
        "sharpe_ci_high",
        "annual_return",
        "hit_rate",
    ):
        assert s[key] is None or math.isfinite(s[key]), key
    assert s["var_compliance"] == pytest.approx(59 / 60)
    assert s["max_correlation_exposure"] == 0.5
    assert s["costs"]["total"]["usd"] == pytest.approx(T * 4.0)
    assert s["risk_interventions"]["binding_counts"] == {"correlation": 3, "var": 9}
    assert s["risk_interventions"]["days_changed"] == T
    assert s["var_backtest"]["days"] == T
    json.dumps(to_jsonable(s), allow_nan=False)


def test_summarise_of_cash_reports_undefined_as_none(results):
    s = summarise(results[2], n_boot=100)
    assert s["sharpe"] == 0.0 and s["max_drawdown"] == 0.0
    assert s["hit_rate"] is None and s["var_backtest"] is None and s["var_compliance"] is None


def test_target_table_marks_met_not_met_and_not_measured():
    summary = {
        "sharpe": 2.5,
        "max_drawdown": 0.2,
        "var_compliance": 1.0,
        "max_correlation_exposure": None,
    }
    rows = target_table(summary, latency_ms=12.0)
    status = [r["status"] for r in rows]
    assert status == ["met", "not met", "met", "not measured", "met"]
    assert rows[4]["measured"] == 12.0
    assert target_table({"sharpe": 2.0})[0]["status"] == "not met"  # strict inequality


def test_strategy_result_rejects_misshaped_field():
    with pytest.raises(DataError, match=r"bad\.weights"):
        StrategyResult(
            "bad",
            np.datetime64("2018-01-01") + np.arange(3),
            np.zeros(3),
            np.ones(3),
            np.zeros((2, 3)),
            {},
            1.0,
        )
    with pytest.raises(DataError, match=r"bad\.var_forecasts"):
        StrategyResult(
            "bad",
            np.datetime64("2018-01-01") + np.arange(3),
            np.zeros(3),
            np.ones(3),
            np.zeros((3, 2)),
            {},
            1.0,
            var_forecasts=[0.1, np.nan, 0.1],
        )


def test_to_jsonable_names_the_key_of_a_nan():
    with pytest.raises(DataError, match=r"\$\.a\.b\[1\]"):
        to_jsonable({"a": {"b": [1.0, float("nan")]}})


def test_write_report_writes_json_html_and_embedded_plots(tmp_path, results):
    summaries = [summarise(r, n_trials=4, n_boot=200) for r in results]
    targets = target_table(summaries[0], latency_ms=8.0)
    prov = provenance_rows(
        {
            "EURUSD": Provenance(
                "real", "ECB fixings", first_date="1999-01-04", last_date="2018-12-31"
            ),
            "XAUUSD": Provenance("proxy", "gold proxy", note="from GLD"),
            "SPX500": Provenance("real", "FRED SP500"),
        }
    )
    corr = (np.array([[1.0, 0.2, -0.1], [0.2, 1.0, 0.4], [-0.1, 0.4, 1.0]]), SYMBOLS)
    paths = write_report(
        tmp_path,
        results,
        summaries,
        prov,
        {"train": "1999-01-04 to 2016-12-30", "test": "2018-07-02 to 2018-08-30"},
        VerdictContext(system="hierarchical", period="the 2-month synthetic test"),
        {
            "Cost sweep": [
                {"cost_multiplier": 0.5, "sharpe": 1.0},
                {"cost_multiplier": 2.0, "sharpe": None},
            ]
        },
        target_rows=targets,
        correlation=corr,
    )
    data = json.loads(
        paths["metrics"].read_text(),
        parse_constant=lambda c: pytest.fail(f"non-finite {c} in metrics.json"),
    )
    assert set(data["strategies"]) == {"hierarchical", "equal_weight", "cash"}
    assert len(data["targets"]) == 5 and data["comparisons"][0]["beat"] is False
    assert any("did not beat equal_weight" in line for line in data["verdict"])

    page = paths["html"].read_text()
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == [
        "allocations.png",
        "correlation.png",
        "drawdown.png",
        "equity.png",
        "sector_exposure.png",
        "var_vs_pnl.png",
    ]
    assert page.count('<img alt="') == 6
    assert page.count('src="data:image/png;base64,iVBORw0KGgo') == 6  # PNG magic, base64
    for text in (
        "Data provenance",
        "Metrics",
        "Targets",
        "Risk transform interventions",
        "Cost sweep",
        "Proxies (not real market data): XAUUSD",
        "hierarchical did not beat",
        "equal_weight",
        "correlation: 3, var: 9",
        "not met",
    ):
        assert text in page, text
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_write_report_rejects_unknown_system(tmp_path, results):
    summaries = [summarise(r, n_boot=50) for r in results]
    with pytest.raises(DataError, match="'missing'"):
        write_report(tmp_path, results, summaries, [], {}, VerdictContext("missing", "p"))


def test_verdict_says_when_a_win_is_within_bootstrap_noise():
    from mtquant.evaluation.verdict import comparison_sentence

    ctx = VerdictContext(system="sys", period="2018")
    row = {
        "system": "sys",
        "baseline": "ew",
        "sharpe_system": 0.6,
        "sharpe_baseline": 0.5,
        "difference_ci_low": -0.4,
        "difference_ci_high": 0.6,
        "beat": True,
        "significant": False,
    }
    text = comparison_sentence(row, ctx)
    assert text.startswith("sys beat ew on 2018: Sharpe 0.60 vs 0.50 (95% CI of the difference")
    assert "not evidence of an edge" in text
    row.update(sharpe_system=None, beat=None)
    assert "could not be compared" in comparison_sentence(row, ctx)
    assert "n/a" in comparison_sentence(row, ctx)


def test_report_shows_fractions_as_percent_in_target_table(tmp_path, results):
    summaries = [summarise(r, n_boot=50) for r in results[:2]]
    targets = target_table(summaries[0], latency_ms=8.0)
    paths = write_report(
        tmp_path,
        results[:2],
        summaries,
        [],
        {},
        VerdictContext("hierarchical", "p"),
        target_rows=targets,
    )
    page = paths["html"].read_text()
    assert f"{100 * summaries[0]['max_drawdown']:.2f}%" in page
    assert "8.000 ms" in page
    assert "All instruments are real market data." in page
