"""StrategyResult, summarise, target_table and the report writer on small synthetic results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mtquant.config.risk import StressWindow
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
from mtquant.evaluation.results import enforced_table
from mtquant.risk_management.correlation_tracker import CorrelationTracker

T = 60
SYMBOLS = ["EURUSD", "XAUUSD", "SPX500"]
SECTORS = ["fx", "commodities", "equity"]
CORR = np.array([[1.0, 0.2, -0.1], [0.2, 1.0, 0.4], [-0.1, 0.4, 1.0]])
WINDOWS = [
    StressWindow("July", "2018-07-10", "2018-07-20"),  # inside 2018-07-02..2018-08-30
    StressWindow("late summer", "2018-08-20", "2018-09-15"),  # partly inside
    StressWindow("2008 crash", "2008-09-01", "2008-11-28"),  # outside the period
]


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
            "correlation_matrices": np.broadcast_to(CORR, (T, 3, 3)),
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
    assert s["var_backtest"]["days"] == T and s["var_backtest"]["status"] == "measured"
    json.dumps(to_jsonable(s), allow_nan=False)


def test_summarise_of_cash_reports_undefined_as_none(results):
    s = summarise(results[2], n_boot=100)
    assert s["sharpe"] == 0.0 and s["max_drawdown"] == 0.0
    assert s["hit_rate"] is None and s["var_compliance"] is None
    assert s["var_backtest"]["status"] == "not measured" and "breach_rate" not in s["var_backtest"]
    assert s["weighted_correlation_exposure"] is None


def test_var_backtest_of_summary_counts_breaches_and_says_99_not_measured(results):
    res = results[0]
    s = summarise(res, var_coverage=0.95, n_boot=50)
    vb = s["var_backtest"]
    expected_breaches = int(np.sum(res.returns < -res.var_forecasts))
    assert vb["confidence"] == 0.95 and vb["breaches"] == expected_breaches
    assert vb["breach_rate"] == pytest.approx(expected_breaches / T)
    for key in ("kupiec_p", "independence_p", "conditional_coverage_p"):
        assert 0.0 <= vb[key] <= 1.0, key
    # the transform records no 99% VaR and no ES yet: never a made-up figure
    assert s["var_backtest_99"] == {
        "confidence": 0.99,
        "status": "not measured",
        "reason": "no ex-ante 99% VaR forecasts (var_forecasts_99 is not recorded)",
    }
    assert s["es_backtest"]["status"] == "not measured"


def _small(returns, var, **kwargs) -> StrategyResult:
    n = len(returns)
    r = np.asarray(returns, dtype=float)
    return StrategyResult(
        "small", np.datetime64("2018-07-02") + np.arange(n), r, 100.0 * np.cumprod(1 + r),
        kwargs.pop("weights", np.ones((n, 2))), {c: np.zeros(n) for c in
        ("spread", "commission", "slippage", "swap")}, 100.0, var_forecasts=np.asarray(var),
        **kwargs,
    )  # fmt: skip


def test_summarise_backtests_99_var_and_es_when_forecasts_are_recorded():
    res = _small(
        [-0.03, 0.01, -0.05, -0.01],
        [0.02] * 4,
        var_forecasts_99=[0.04] * 4,
        es_forecasts=[0.025, 0.03, 0.035, 0.03],
    )
    s = summarise(res, n_boot=20)
    assert s["var_backtest"]["breaches"] == 2  # days 0 and 2 lose more than 2%
    assert s["var_backtest_99"]["status"] == "measured"
    assert s["var_backtest_99"]["breaches"] == 1  # only day 2 loses more than 4%
    assert s["var_backtest_99"]["expected_rate"] == pytest.approx(0.01)
    es = s["es_backtest"]
    assert es["status"] == "measured" and es["breach_days"] == 2
    assert es["mean_breach_loss"] == pytest.approx(0.04)  # (0.03 + 0.05) / 2
    assert es["mean_es_forecast"] == pytest.approx(0.03)  # (0.025 + 0.035) / 2
    assert es["loss_to_es_ratio"] == pytest.approx(4 / 3)


def test_summarise_measures_weighted_correlation_exposure_of_the_book():
    # day 0: legs (1, 1) with rho 0.8 -> 0.8; day 1: (1, -1) -> -0.8; day 2: one leg -> 0
    corr = np.array([[1.0, 0.8], [0.8, 1.0]])
    res = _small(
        [0.0, 0.0, 0.0],
        [0.01] * 3,
        weights=np.array([[1.0, 1.0], [1.0, -1.0], [1.0, 0.0]]),
        correlation_matrices=np.broadcast_to(corr, (3, 2, 2)),
    )
    wce = summarise(res, n_boot=20)["weighted_correlation_exposure"]
    assert wce["max"] == pytest.approx(0.8) and wce["days_with_pairs"] == 2
    assert wce["mean"] == pytest.approx(0.0)  # (0.8 - 0.8) / 2 over the days with a pair


def test_summarise_reports_stress_windows_inside_partial_and_outside():
    r = np.zeros(10)
    r[2:5] = [-0.02, 0.01, -0.03]  # 2018-07-04 .. 2018-07-06
    var = np.linspace(0.01, 0.019, 10)
    res = _small(r, var)  # 2018-07-02 .. 2018-07-11
    windows = [
        StressWindow("w", "2018-07-04", "2018-07-06"),
        StressWindow("tail", "2018-07-10", "2018-07-31"),
        StressWindow("2008 crash", "2008-09-01", "2008-11-28"),
    ]
    rows = summarise(res, n_boot=20, stress_windows=windows)["stress_windows"]
    inside, tail, outside = rows
    assert inside["status"] == "inside" and inside["days"] == 3
    assert inside["mean_var"] == pytest.approx(var[2:5].mean())
    assert inside["mean_es"] is None  # no ES forecasts: not measured
    assert inside["cumulative_return"] == pytest.approx(0.98 * 1.01 * 0.97 - 1.0)
    assert inside["worst_day"] == pytest.approx(-0.03)
    assert inside["max_drawdown"] == pytest.approx(1.0 - 0.98 * 1.01 * 0.97)
    assert tail["status"] == "partial" and (tail["first"], tail["last"]) == (
        "2018-07-10",
        "2018-07-11",
    )
    assert outside == {
        "window": "2008 crash",
        "start": "2008-09-01",
        "end": "2008-11-28",
        "status": "outside the evaluated period",
    }


def test_summarise_replays_windows_on_the_last_book():
    weights = np.array([[0.0, 0.0], [1.0, -0.5]])
    res = _small([0.0, 0.0], [0.01, 0.01], weights=weights)
    mdates = np.datetime64("2011-07-28") + np.arange(8)  # 2011-07-28 .. 2011-08-04
    mret = np.zeros((8, 2))
    mret[4:6] = [[-0.02, 0.01], [0.03, 0.04]]  # 2011-08-01, 2011-08-02
    windows = [
        StressWindow("2011 August", "2011-08-01", "2011-08-02"),
        StressWindow("2008 crash", "2008-09-01", "2008-11-28"),
    ]
    rows = summarise(res, n_boot=20, stress_windows=windows, market=(mdates, mret))
    aug, crash = rows["stress_replay"]
    assert aug["status"] == "replayed" and aug["days"] == 2 and aug["book_gross"] == 1.5
    assert aug["cumulative_return"] == pytest.approx(0.975 * 1.01 - 1.0)  # -2.5%, then +1%
    assert aug["worst_day"] == pytest.approx(-0.025) and aug["max_drawdown"] == pytest.approx(0.025)
    assert crash["status"] == "not in the data" and "cumulative_return" not in crash


def _vb(rate: float, kupiec: float, cc: float) -> dict:
    return {"status": "measured", "confidence": 0.95, "days": 100, "breaches": int(100 * rate),
            "breach_rate": rate, "expected_rate": 0.05, "kupiec_p": kupiec,
            "independence_p": 0.5, "conditional_coverage_p": cc}  # fmt: skip


def test_target_table_marks_met_not_met_and_not_measured():
    summary = {
        "sharpe": 2.5,
        "max_drawdown": 0.2,
        "var_backtest": _vb(0.06, 0.6, 0.4),
        "weighted_correlation_exposure": None,
        "var_compliance": 1.0,
    }
    rows = target_table(summary, latency_ms=12.0)
    status = [r["status"] for r in rows]
    assert status == ["met", "not met", "met", "not measured", "met"]
    assert rows[2]["measured"] == 0.06 and "Kupiec p = 0.600" in rows[2]["detail"]
    assert rows[4]["measured"] == 12.0
    assert target_table({"sharpe": 2.0})[0]["status"] == "not met"  # strict inequality


def test_target_table_fails_the_var_row_on_realised_breaches():
    # the plan's "VaR compliance 100%" read from the transform would be met; the backtest is not
    for vb in (_vb(0.101, 0.019, 0.06), _vb(0.06, 0.6, 0.03)):
        rows = target_table({"var_backtest": vb, "var_compliance": 1.0})
        assert rows[2]["status"] == "not met", vb
        assert "p > 0.05" in rows[2]["target"]
    not_measured = {"status": "not measured", "reason": "no ex-ante 95% VaR forecasts"}
    row = target_table({"var_backtest": not_measured})[2]
    assert row["status"] == "not measured" and row["measured"] is None
    wce = {"max": 0.72, "mean": 0.3, "days_with_pairs": 50}
    corr_row = target_table({"weighted_correlation_exposure": wce})[3]
    assert corr_row["status"] == "not met" and corr_row["measured"] == 0.72
    assert "position-weighted" in corr_row["target"]


def test_enforced_table_keeps_the_by_construction_limits_apart():
    summary = {
        "var_compliance": 1.0,
        "max_correlation_exposure": 0.7,
        "sector_allocation": {"max_gross": {"fx": 1.2, "equity": 0.3}, "cap": 1.2},
    }
    rows = enforced_table(summary, var_limit=0.02, correlation_target=0.7)
    assert [r["status"] for r in rows] == ["met", "met", "met"]
    assert all("enforced by construction" in r["target"] for r in rows)
    assert rows[2]["measured"] == 1.2
    summary["var_compliance"] = 59 / 60
    assert enforced_table(summary)[0]["status"] == "not met"


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
    mdates = np.datetime64("2018-01-01") + np.arange(300)  # 2018-01-01 .. 2018-10-27
    mret = np.random.default_rng(1).normal(0.0, 0.01, (300, 3))
    summaries = [
        summarise(r, n_trials=4, n_boot=200, sector_cap=1.2, stress_windows=WINDOWS,
                  market=(mdates, mret))
        for r in results
    ]  # fmt: skip
    targets = target_table(summaries[0], latency_ms=8.0)
    enforced = enforced_table(summaries[0], sector_cap=1.2)
    prov = provenance_rows(
        {
            "EURUSD": Provenance(
                "real", "ECB fixings", first_date="1999-01-04", last_date="2018-12-31"
            ),
            "XAUUSD": Provenance("proxy", "gold proxy", note="from GLD"),
            "SPX500": Provenance("real", "FRED SP500"),
        }
    )
    corr = CorrelationTracker(SYMBOLS, window=50)
    corr.extend(np.random.default_rng(0).normal(0.0, 0.01, (50, len(SYMBOLS))))
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
        enforced_rows=enforced,
    )
    data = json.loads(
        paths["metrics"].read_text(),
        parse_constant=lambda c: pytest.fail(f"non-finite {c} in metrics.json"),
    )
    assert set(data["strategies"]) == {"hierarchical", "equal_weight", "cash"}
    assert len(data["targets"]) == 5 and data["comparisons"][0]["beat"] is False
    assert any("did not beat equal_weight" in line for line in data["verdict"])
    assert [r["target"] for r in data["enforced"]] == [r["target"] for r in enforced]
    for name, s in data["strategies"].items():
        assert s["var_backtest_99"]["status"] == "not measured", name
        assert s["es_backtest"]["status"] == "not measured", name
        assert set(s["sector_allocation"]["mean_share"]) == set(SECTORS), name
        assert [w["status"] for w in s["stress_windows"]] == [
            "inside",
            "partial",
            "outside the evaluated period",
        ], name
        assert [w["status"] for w in s["stress_replay"]] == [
            "replayed",
            "replayed",
            "not in the data",
        ], name
    system = data["strategies"]["hierarchical"]
    for key in ("breach_rate", "kupiec_p", "conditional_coverage_p", "independence_p"):
        assert system["var_backtest"][key] is not None, key
    assert system["weighted_correlation_exposure"]["days_with_pairs"] > 0

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
        "Enforced by construction",
        "VaR backtest",
        "Expected Shortfall on VaR-breach days",
        "Correlation exposure",
        "Sector allocation",
        "Mean share of gross",
        "Stress windows",
        "partial: 2018-08-20..2018-08-30 of 2018-08-20..2018-09-15",
        "Windows outside the evaluated period: 2008 crash",
        "Scenario check",
        "not in the data",
        "not measured",
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


def test_an_enforced_weighted_correlation_limit_is_no_target():
    """With risk.correlation_rule=weighted the transform enforces the position-weighted exposure:
    the row leaves the targets (it would read back its own limit) for the enforced table."""
    wce = {"max": 0.69999, "mean": 0.1, "days_with_pairs": 50}
    summary = {"var_compliance": 1.0, "weighted_correlation_exposure": wce}
    targets = target_table(summary, correlation_rule="weighted")
    assert not any("correlation" in r["target"] for r in targets) and len(targets) == 4
    rows = enforced_table(summary, correlation_target=0.7, correlation_rule="weighted")
    assert rows[1]["measured"] == 0.69999 and rows[1]["status"] == "met"
    assert "Position-weighted" in rows[1]["target"] and "enforced" in rows[1]["target"]
