"""The backtest's pieces: one strategy through the env, fold splits, stitching, seed ensembles."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mtquant.agents.baselines import EqualWeight
from mtquant.config import RunConfig, compose_config, to_object
from mtquant.config.data import WalkForwardConfig
from mtquant.data import fold_splits, walk_forward_folds
from mtquant.errors import ConfigError, DataError
from mtquant.evaluation import RiskInterventions, StrategyResult
from mtquant.evaluation.backtest import first_trading_row, run_strategy
from mtquant.evaluation.combine import ensemble, stitch
from mtquant.evaluation.evaluation_report import SYSTEM
from mtquant.evaluation.results import summarise
from mtquant.evaluation.walk_forward_report import (
    BacktestPlan,
    FoldRun,
    aggregate_rows,
    write_backtest_report,
)
from mtquant.features.feature_set import FeatureSet
from mtquant.instruments import InstrumentUniverse
from mtquant.testing.random_walk import random_walk_features

SPLIT = (100, 200)


Setup = tuple[RunConfig, InstrumentUniverse, FeatureSet]


@pytest.fixture(scope="module")
def setup() -> Setup:
    cfg = to_object(compose_config("train", []))
    universe = InstrumentUniverse.from_config(cfg.instruments)
    return cfg, universe, random_walk_features(universe, n_days=200, seed=5, daily_vol=0.03)


def test_run_strategy_covers_the_split_and_pairs_returns_with_ex_ante_var(setup: Setup) -> None:
    cfg, universe, features = setup
    res = run_strategy(cfg, features, SPLIT, EqualWeight(3.0), "ew")
    start = first_trading_row(features, SPLIT)
    assert res.returns.size == SPLIT[1] - 1 - start  # decide at start .. 198, marked to 199
    assert res.dates[0] == np.datetime64(features.dates[start + 1].date(), "D")
    assert res.dates[-1] == np.datetime64(features.dates[SPLIT[1] - 1].date(), "D")
    equity = np.concatenate([[cfg.env.initial_equity], res.equity])
    np.testing.assert_allclose(res.returns, equity[1:] / equity[:-1] - 1.0, rtol=1e-12)
    assert res.var_forecasts is not None and res.interventions is not None
    # gross 3x at 3% daily vol is far above 2% VaR: the transform scales every book to the limit
    np.testing.assert_allclose(res.var_forecasts, cfg.risk.max_portfolio_var, rtol=1e-6)
    assert res.interventions.binding_counts.get("var", 0) > 0
    assert (res.interventions.proposed_var > res.var_forecasts).all()
    # the correlation behind each decision, from the cov observation the transform used
    assert res.correlation_matrices is not None
    assert res.correlation_matrices.shape == (res.returns.size, 8, 8)
    diag = np.diagonal(res.correlation_matrices, axis1=1, axis2=2)
    np.testing.assert_allclose(diag, 1.0, rtol=1e-6)
    wce = summarise(res, n_boot=20)["weighted_correlation_exposure"]
    assert -1.0 <= wce["mean"] <= wce["max"] <= 1.0 and wce["days_with_pairs"] > 0
    # the enforced model's 99% VaR and ES of the same books: beyond its 95% VaR every day
    assert res.var_forecasts_99 is not None and res.es_forecasts is not None
    held = res.var_forecasts > 0
    assert (res.var_forecasts_99[held] > res.var_forecasts[held]).all()
    assert (res.es_forecasts[held] > res.var_forecasts[held]).all()


def test_cost_multiplier_scales_the_first_days_costs(setup: Setup) -> None:
    cfg, _, features = setup
    one = run_strategy(cfg, features, SPLIT, EqualWeight(), "ew", cost_multiplier=1.0)
    two = run_strategy(cfg, features, SPLIT, EqualWeight(), "ew", cost_multiplier=2.0)
    for c in ("spread", "commission", "slippage"):  # same first trade from the same equity
        assert one.costs[c][0] > 0
        assert two.costs[c][0] == pytest.approx(2.0 * one.costs[c][0], rel=1e-9)
    with pytest.raises(DataError, match="cost_multiplier"):
        run_strategy(cfg, features, SPLIT, EqualWeight(), "ew", cost_multiplier=-1.0)


def test_fold_splits_validate_on_the_end_of_the_training_window() -> None:
    dates = pd.bdate_range("2000-01-03", "2006-12-29")
    folds = walk_forward_folds(dates, WalkForwardConfig(3, 12, 6))
    s = fold_splits(dates, folds[1], val_months=6, warmup_days=100)
    assert s.train[0] == 0 and s.train[1] == s.val[0] and s.val[1] == folds[1].train[1]
    assert s.test == folds[1].test and s.val[1] <= s.test[0]  # test never inside training
    # fold 1 trains before 2004-01-03 (last day Fri 2004-01-02); val: after 2003-07-02
    assert dates[s.val[1] - 1] == pd.Timestamp("2004-01-02")
    assert dates[s.val[0]] == pd.Timestamp("2003-07-03")
    with pytest.raises(DataError, match="too short"):
        fold_splits(dates, folds[0], val_months=6, warmup_days=1000)


def _result(
    name: str, start: str, returns: list[float], var: list[float], **extra: object
) -> StrategyResult:
    n = len(returns)
    r = np.asarray(returns)
    return StrategyResult(
        name, np.datetime64(start) + np.arange(n), r, 100.0 * np.cumprod(1 + r),
        np.ones((n, 2)), {c: np.ones(n) for c in ("spread", "commission", "slippage", "swap")},
        100.0, var_forecasts=np.asarray(var),
        interventions=RiskInterventions({"var": 1}, np.asarray(var) * 2, np.asarray(var)),
        correlation_exposure=np.asarray(var) * 10, sectors=["fx", "equity"],
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def _corr(rho: float, n: int) -> np.ndarray:
    return np.broadcast_to(np.array([[1.0, rho], [rho, 1.0]]), (n, 2, 2))


def test_stitch_recompounds_equity_and_sums_interventions() -> None:
    a = _result("s", "2020-01-01", [0.1, -0.1], [0.01, 0.02])
    b = _result("s", "2020-07-01", [0.05], [0.015])
    s = stitch([a, b])
    assert s.interventions is not None and s.var_forecasts is not None
    np.testing.assert_allclose(s.equity, [110.0, 99.0, 103.95])
    assert s.interventions.binding_counts == {"var": 2}
    np.testing.assert_allclose(s.var_forecasts, [0.01, 0.02, 0.015])
    with pytest.raises(ConfigError, match="overlap"):
        stitch([b, a])


def test_stitch_and_ensemble_carry_99_var_es_and_correlations() -> None:
    kw = {"var_forecasts_99": [0.03, 0.04], "es_forecasts": [0.02, 0.03]}
    a = _result("s", "2020-01-01", [0.1, -0.1], [0.01, 0.02], correlation_matrices=_corr(0.2, 2),
                **kw)  # fmt: skip
    b = _result("s", "2020-07-01", [0.05], [0.015], var_forecasts_99=[0.05],
                es_forecasts=[0.01], correlation_matrices=_corr(0.6, 1))  # fmt: skip
    s = stitch([a, b])
    assert s.var_forecasts_99 is not None and s.es_forecasts is not None
    np.testing.assert_allclose(s.var_forecasts_99, [0.03, 0.04, 0.05])
    np.testing.assert_allclose(s.es_forecasts, [0.02, 0.03, 0.01])
    assert s.correlation_matrices is not None
    np.testing.assert_allclose(s.correlation_matrices[:, 0, 1], [0.2, 0.2, 0.6])
    # a period without the forecasts makes the stitched series absent, never partly filled
    assert stitch([a, _result("s", "2020-07-01", [0.05], [0.015])]).var_forecasts_99 is None

    c = _result("s", "2020-01-01", [0.0, 0.0], [0.03, 0.0], var_forecasts_99=[0.05, 0.0],
                es_forecasts=[0.04, 0.01], correlation_matrices=_corr(0.2, 2))  # fmt: skip
    e = ensemble([a, c], "sys")
    assert e.var_forecasts_99 is not None and e.es_forecasts is not None
    np.testing.assert_allclose(e.var_forecasts_99, [0.04, 0.02])  # mean: an upper bound
    np.testing.assert_allclose(e.es_forecasts, [0.03, 0.02])
    assert e.correlation_matrices is not None
    np.testing.assert_allclose(e.correlation_matrices[:, 0, 1], [0.2, 0.2])


def test_walk_forward_metrics_hold_var_backtest_of_every_headline_strategy(tmp_path) -> None:
    cfg = to_object(compose_config(
        "backtest", ["extras.seeds=[0,1]", "extras.cost_multipliers=[1.0]"]))  # fmt: skip
    dates = pd.bdate_range("2000-01-03", "2006-12-29")
    folds = walk_forward_folds(dates, WalkForwardConfig(3, 12, 6))[:2]
    rng = np.random.default_rng(3)

    def res(name: str, k: int, scale: float) -> StrategyResult:
        n = 60
        r = list(rng.normal(0.0, scale, n))
        start = str(np.datetime64("2004-01-05") + 200 * k)
        return _result(name, start, r, [0.02] * n, correlation_matrices=_corr(0.5, n))

    runs = [
        FoldRun(
            fold=f, splits=fold_splits(dates, f, val_months=6, warmup_days=100),
            system={s: {1.0: res(SYSTEM, k, 0.015)} for s in (0, 1)},
            baselines={"equal_weight": {1.0: res("equal_weight", k, 0.01)}},
            train_seconds={0: 1.0, 1: 1.0}, latency={"median_ms": 2.0},
        )
        for k, f in enumerate(folds)
    ]  # fmt: skip
    data = SimpleNamespace(dates=dates, provenance={})
    paths = write_backtest_report(cfg, data, runs, tmp_path, wall_seconds=1.0)
    metrics = json.loads(paths["metrics"].read_text())
    assert set(metrics["strategies"]) == {SYSTEM, "equal_weight"}
    for name, s in metrics["strategies"].items():
        vb = s["var_backtest"]
        assert vb["days"] == 120 and vb["status"] == "measured", name  # folds stitched
        for key in ("breach_rate", "kupiec_p", "conditional_coverage_p"):
            assert vb[key] is not None and 0.0 <= vb[key] <= 1.0, (name, key)
        assert s["var_backtest_99"]["status"] == "not measured", name
        assert s["weighted_correlation_exposure"]["max"] == pytest.approx(0.5), name
        assert s["sector_allocation"]["mean_share"] == pytest.approx({"fx": 0.5, "equity": 0.5})
    assert metrics["targets"][2]["target"].startswith("VaR backtest")
    assert all("enforced by construction" in r["target"] for r in metrics["enforced"])
    runs_table = metrics["extra_tables"]["Runs"]
    assert all(r["var_breach_rate"] is not None for r in runs_table)


def test_ensemble_averages_returns_and_vars_and_takes_max_correlation() -> None:
    a = _result("s", "2020-01-01", [0.02, 0.0], [0.01, 0.02])
    b = _result("s", "2020-01-01", [0.0, -0.02], [0.03, 0.0])
    e = ensemble([a, b], "sys")
    assert e.var_forecasts is not None and e.correlation_exposure is not None
    np.testing.assert_allclose(e.returns, [0.01, -0.01])
    np.testing.assert_allclose(e.var_forecasts, [0.02, 0.01])
    np.testing.assert_allclose(e.correlation_exposure, [0.3, 0.2])
    with pytest.raises(DataError, match="same days"):
        ensemble([a, _result("s", "2021-01-01", [0.0, 0.0], [0.0, 0.0])], "sys")


def test_aggregate_rows_give_mean_and_sample_std_per_strategy_and_cost() -> None:
    rows = [
        {"strategy": "h", "cost_x": 1.0, "sharpe": 1.0, "annual_return": 0.1,
         "max_drawdown": 0.1, "costs_fraction": 0.01},
        {"strategy": "h", "cost_x": 1.0, "sharpe": 3.0, "annual_return": None,
         "max_drawdown": 0.3, "costs_fraction": 0.03},
        {"strategy": "h", "cost_x": 2.0, "sharpe": -1.0, "annual_return": 0.0,
         "max_drawdown": 0.2, "costs_fraction": 0.02},
    ]  # fmt: skip
    agg = aggregate_rows(rows)
    assert [(r["strategy"], r["cost_x"], r["runs"]) for r in agg] == [("h", 1.0, 2), ("h", 2.0, 1)]
    assert agg[0]["sharpe_mean"] == 2.0 and agg[0]["sharpe_std"] == pytest.approx(np.sqrt(2.0))
    assert (
        agg[0]["annual_return_mean"] == 0.1 and agg[0]["annual_return_std"] == 0.0
    )  # None skipped
    assert agg[1]["sharpe_std"] == 0.0


def test_backtest_plan_needs_distinct_seeds_and_the_1x_cost() -> None:
    base = ["extras.seeds=[0,1]", "extras.cost_multipliers=[0.5,1.0]"]
    plan = BacktestPlan.from_config(to_object(compose_config("backtest", base)))
    assert plan.seeds == (0, 1) and plan.cost_multipliers == (0.5, 1.0)
    for bad in ("extras.seeds=[1,1]", "extras.cost_multipliers=[0.5,2.0]"):
        with pytest.raises(ConfigError, match="extras"):
            BacktestPlan.from_config(to_object(compose_config("backtest", [bad])))
