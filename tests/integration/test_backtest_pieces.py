"""The backtest's pieces: one strategy through the env, fold splits, stitching, seed ensembles."""

from __future__ import annotations

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
from mtquant.evaluation.walk_forward_report import BacktestPlan, aggregate_rows
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


def _result(name: str, start: str, returns: list[float], var: list[float]) -> StrategyResult:
    n = len(returns)
    r = np.asarray(returns)
    return StrategyResult(
        name, np.datetime64(start) + np.arange(n), r, 100.0 * np.cumprod(1 + r),
        np.ones((n, 2)), {c: np.ones(n) for c in ("spread", "commission", "slippage", "swap")},
        100.0, var_forecasts=np.asarray(var),
        interventions=RiskInterventions({"var": 1}, np.asarray(var) * 2, np.asarray(var)),
        correlation_exposure=np.asarray(var) * 10,
    )  # fmt: skip


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
