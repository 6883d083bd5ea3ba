"""The benchmark's parts, fast (not marked perf): the reference pandas env and the bare kernel
keep the environment's semantics, settings refuse bad knobs, bench.json checks and writes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mtquant.agents.environments import make_env
from mtquant.agents.environments.observations import FeatureTape, observe
from mtquant.agents.hierarchical.policy import build_policy
from mtquant.bench.env_bench import BareStepper, measure_bare, measure_env, measure_pandas
from mtquant.bench.latency import decision_latencies
from mtquant.bench.machine import cpu_model
from mtquant.bench.pandas_env import PandasTradingEnv
from mtquant.bench.report import check_complete, format_table, missing_entries, write_json_atomic
from mtquant.bench.risk_bench import bench_book, measure_var_batch_us, measure_var_us
from mtquant.bench.settings import QUICK, bench_settings
from mtquant.bench.timing import latency_percentiles, time_block
from mtquant.bench.training_bench import phase_config, rss_command
from mtquant.config import compose_config, to_object
from mtquant.errors import ConfigError, DataError
from mtquant.execution.kernel import (
    KernelParams,
    KernelState,
    MarketTape,
    step_kernel,
    target_units,
)
from mtquant.experiment import Experiment
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.limits import RiskLimits
from mtquant.risk_management.var_models import VAR_METHODS
from mtquant.testing.random_walk import random_walk_features

CFG = to_object(compose_config("bench", []))
UNIVERSE = InstrumentUniverse.from_config(CFG.instruments)
FEATURES = random_walk_features(UNIVERSE, n_days=160, seed=3)
SPLIT = (0, 160)


def small_context() -> Experiment:
    """An experiment on random-walk features (the bench reads features, splits, limits, policy)."""
    splits = SimpleNamespace(train=SPLIT, val=SPLIT)
    limits = RiskLimits.from_config(CFG.risk, UNIVERSE)
    policy = build_policy(CFG.agents, CFG.instruments, features=FEATURES)
    return Experiment(CFG, None, splits, UNIVERSE, FEATURES, limits, policy)  # type: ignore[arg-type]


def test_pandas_env_equity_matches_the_kernel_step_by_step() -> None:
    start, steps = 70, 40
    weights = np.array([0.3, -0.2, 0.25, 0.1, -0.15, 0.2, -0.1, 0.05])
    env = PandasTradingEnv(
        FEATURES, UNIVERSE, CFG.env, CFG.risk, SPLIT, limits=None, start_row=start
    )
    params = KernelParams.build(
        UNIVERSE,
        slippage_bps=CFG.env.slippage_bps,
        cost_multiplier=CFG.env.cost_multiplier,
        stop_out_level=CFG.risk.stop_out_level,
    )
    tape = MarketTape.from_features(FEATURES, UNIVERSE)
    state = KernelState.initial(torch.tensor([start]), UNIVERSE.n, 3, CFG.env.initial_equity)
    w = torch.tensor(weights)[None]
    usd_base = UNIVERSE.terms()["usd_base"]
    for _ in range(steps):
        target = target_units(w, state.equity, tape.close[state.t], usd_base)
        state, _ = step_kernel(state, target, tape, params)
        _, reward, done, info = env.step(weights)
        assert not done
        assert info["equity"] == pytest.approx(state.equity.item(), rel=1e-12)
    units = np.array([env.units[s] for s in UNIVERSE.symbols])
    np.testing.assert_allclose(units, state.units[0].numpy(), rtol=1e-12)
    assert env.equity != CFG.env.initial_equity  # the book moved: the comparison was not vacuous
    expected = observe(state, FeatureTape.build(FEATURES, UNIVERSE, "cpu"))
    got = env.observe()
    np.testing.assert_allclose(
        got["instrument_obs"], expected["instrument_obs"][0], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(got["meta_state"], expected["meta_state"][0], rtol=1e-5, atol=1e-6)


def test_pandas_env_risk_check_scales_an_oversized_book_to_the_var_limit() -> None:
    limits = RiskLimits.from_config(CFG.risk, UNIVERSE)
    env = PandasTradingEnv(
        FEATURES, UNIVERSE, CFG.env, CFG.risk, SPLIT, limits=limits, start_row=80
    )
    scaled = env._risk_scale(np.full(8, 1.0))
    cov = FEATURES.cov[80].double().numpy()
    var = limits.z * np.sqrt(scaled @ cov @ scaled)
    assert np.abs(scaled).sum() <= limits.max_gross_leverage + 1e-12
    assert var <= limits.max_portfolio_var * (1 + 1e-9)


def test_bare_stepper_reproduces_the_torchrl_env_with_the_risk_transform() -> None:
    ctx = small_context()
    b = 4
    env = make_env(CFG, FEATURES, SPLIT, batch_size=b, device="cpu", seed=11)
    stepper = BareStepper(ctx, b, seed=11)
    td = env.reset()
    assert torch.equal(td["info", "date_index"], stepper.state.t)
    action = bench_book(UNIVERSE.n, b).float() * 2.0  # oversized: the risk layers bind
    for _ in range(25):
        td.set("target_weights", action)
        out, td = env.step_and_maybe_reset(td)
        reward = stepper.step(action)
        torch.testing.assert_close(out["next", "reward"], reward, rtol=1e-5, atol=1e-6)
        going = ~out["next", "done"].reshape(-1)  # a finished account restarts in the stepper
        torch.testing.assert_close(
            out["next", "info", "equity"][going], stepper.state.equity[going], rtol=1e-9, atol=0
        )
    assert (out["next", "risk", "binding"] > 0).any()


def test_quick_settings_replace_only_knobs_left_at_their_defaults() -> None:
    s = bench_settings({"quick": True, "repeats": 7, "env_steps": 33})
    assert s.env_steps == 33 and s.repeats == QUICK["repeats"]  # 7 is the default -> quick's 3
    assert s.ppo_phases == ["phase3"] and s.schedule_frames == 1_800_000


@pytest.mark.parametrize(
    ("extras", "key"),
    [
        ({"repets": 3}, "extras.repets"),
        ({"repeats": 0}, "extras.repeats"),
        ({"batch_sizes": [64]}, "extras.batch_sizes"),
        ({"ppo_rollouts": [3, 1]}, "extras.ppo_rollouts"),
        ({"var_backend": "jax"}, "extras.var_backend"),
    ],
)
def test_settings_refuse_bad_knobs_by_name(extras: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        bench_settings(extras)


def complete_result() -> dict:
    b3 = {"1": 1.0, "64": 2.0, "1024": 3.0}
    return {
        "decision_latency_ms": {"p50": 1.0, "p99": 2.0},
        "var_us": {"parametric": 1.0, "historical": 2.0, "monte_carlo": 3.0},
        "var_batch_us": {"1024": 5.0},
        "var_batch_compiled_us": {"1024": 2.0},
        "var_method_us": {m: 5.0 for m in (*VAR_METHODS, "parametric+weighted")},
        "var_method_ratio": {m: 1.0 for m in (*VAR_METHODS, "parametric+weighted")},
        "env_steps_per_s": b3,
        "bare_kernel_steps_per_s": b3,
        "pandas_env_steps_per_s": {"1": 1.0},
        "env_vs_bare_ratio": b3,
        "env_vs_pandas_ratio": b3,
        "ppo_frames_per_s": 100.0,
        "full_schedule_minutes_estimate": 300.0,
        "peak_rss_mb": 500.0,
        "machine": {"cpu_model": "x", "cores": 2, "torch": "2", "numpy": "2"},
    }


def test_completeness_check_names_missing_and_non_positive_entries() -> None:
    result = complete_result()
    check_complete(result)
    result["var_us"]["historical"] = float("nan")
    result["env_steps_per_s"] = {"1": 1.0, "64": 0.0}
    del result["peak_rss_mb"]
    assert missing_entries(result) == [
        "var_us.historical",
        "env_steps_per_s.64",
        "env_steps_per_s.1024",
        "peak_rss_mb",
    ]
    with pytest.raises(DataError, match="var_us.historical"):
        check_complete(result)


def test_bench_json_is_written_atomically_and_the_table_lists_every_figure(tmp_path: Path) -> None:
    path = write_json_atomic(tmp_path / "bench.json", complete_result())
    assert json.loads(path.read_text())["var_batch_us"] == {"1024": 5.0}
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # no temp file left behind
    table = format_table(complete_result())
    assert "| env_vs_bare_ratio" in table and "| 1024 " in table and "machine: x (2 cores" in table


def test_timing_helpers_take_medians_and_linear_percentiles() -> None:
    calls = []
    timing = time_block(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7 and timing.min_s <= timing.median_s <= timing.max_s
    assert latency_percentiles([0.001, 0.002, 0.003]) == pytest.approx({"p50": 2.0, "p99": 2.98})


def test_cpu_model_reads_the_model_name_line(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU @ 3GHz\nflags\t: sse\n")
    assert cpu_model(info) == "Test CPU @ 3GHz"


def test_measurements_on_a_small_market_give_positive_figures_for_every_size() -> None:
    ctx = small_context()
    s = bench_settings(
        {
            "quick": True,
            "repeats": 1,
            "warmup": 0,
            "env_steps": 3,
            "var_calls": 2,
            "pandas_steps": 3,
            "batch_sizes": [1, 8],
            "var_batch_sizes": [16],
        }
    )
    figures = {
        "env": measure_env(ctx, s),
        "bare": measure_bare(ctx, s),
        "pandas": measure_pandas(ctx, s),
        "var": measure_var_us(ctx, s),
        "var_torch": measure_var_us(ctx, replace(s, var_backend="torch")),
        "var_batch": measure_var_batch_us(ctx, s),
    }
    assert set(figures["env"]) == set(figures["bare"]) == {"1", "8"}
    assert set(figures["var"]) == {"parametric", "historical", "monte_carlo"}
    assert set(figures["var_batch"]) == {"16"} and set(figures["pandas"]) == {"1"}
    assert all(v > 0 for fig in figures.values() for v in fig.values())


def test_decision_latencies_time_each_step_after_the_warm_up() -> None:
    samples = decision_latencies(small_context(), decisions=6, warmup=2)
    assert len(samples) == 6 and all(x > 0 for x in samples)


def test_ppo_phase_config_sets_whole_rollouts_and_one_final_validation() -> None:
    s = bench_settings({"ppo_frames_per_batch": 100, "ppo_epochs": 2})
    cfg = phase_config(CFG, "phase2", 3, s)
    n_envs = CFG.hardware.n_envs  # whole steps of n_envs accounts, at least one
    assert cfg.training.phase2.timesteps == 3 * max(1, 100 // n_envs) * n_envs
    assert cfg.training.phases == ["phase2"] and cfg.training.ppo.n_epochs == 2
    assert cfg.training.val_check_interval == 4 and CFG.training.phases != ["phase2"]


def test_rss_command_caps_every_phase_of_the_default_training(tmp_path: Path) -> None:
    cmd = rss_command(CFG, bench_settings({}), tmp_path)
    assert "training=default" in cmd and f"hydra.run.dir={tmp_path}" in cmd
    assert [c for c in cmd if c.endswith(".timesteps=4096")] == [
        f"training.{p}.timesteps=4096" for p in ("phase1", "phase2", "phase3")
    ]
