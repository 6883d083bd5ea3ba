"""``run_bench(cfg, out_dir)``: every measurement in order, then bench.json and the table.

Units in bench.json: ``*_ms`` milliseconds, ``*_us`` microseconds per call, ``*_steps_per_s``
transitions per second (env steps x batch size), ``ppo_frames_per_s`` environment transitions
per second of end-to-end PPO, ``peak_rss_mb`` MiB. Each figure is a median over
``extras.repeats`` timed runs after ``extras.warmup`` untimed ones (latency: percentiles of
single calls). The ``settings`` entry records the knobs the figures were taken with.

Every in-process figure, PPO included, runs on ``extras.threads`` torch threads (default 1, not
``hardware.torch_threads``): on a shared 2-core machine a second intra-op thread that waits for
a descheduled peer made PPO up to 16x slower and the figures irreproducible. Set
``extras.threads=2`` on a dedicated machine. The peak-RSS subprocess is a plain
``scripts/train.py`` run and uses ``hardware.torch_threads``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from mtquant.bench.env_bench import measure_bare, measure_env, measure_pandas
from mtquant.bench.grid_bench import measure_walk_forward_grid
from mtquant.bench.latency import measure_decision_latency
from mtquant.bench.machine import machine_info
from mtquant.bench.report import check_complete, pandas_ratios, ratios, write_json_atomic
from mtquant.bench.risk_bench import (
    measure_var_batch_compiled_us,
    measure_var_batch_us,
    measure_var_methods_us,
    measure_var_us,
)
from mtquant.bench.settings import BenchSettings, bench_settings
from mtquant.bench.training_bench import measure_peak_rss_mb, measure_ppo
from mtquant.config.store import RunConfig
from mtquant.experiment import Experiment

BENCH_FILE = "bench.json"
log = logging.getLogger("mtquant.bench")


def _timed(name: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    value = fn()
    log.info("bench %s: %.1f s", name, time.perf_counter() - start)
    return value


def collect(cfg: RunConfig, s: BenchSettings) -> dict[str, Any]:
    """Every figure of bench.json (module doc) for ``cfg`` and the settings ``s``."""
    torch.set_num_threads(s.threads)
    ctx = _timed("prepare", lambda: Experiment.from_config(cfg))
    result: dict[str, Any] = {}
    result["decision_latency_ms"] = _timed("latency", lambda: measure_decision_latency(ctx, s))
    result["var_us"] = _timed("var", lambda: measure_var_us(ctx, s))
    result["var_batch_us"] = _timed("var_batch", lambda: measure_var_batch_us(ctx, s))
    methods = _timed("var_methods", lambda: measure_var_methods_us(ctx, s))
    result["var_method_us"], result["var_method_ratio"] = methods["us"], methods["ratio"]
    result["var_batch_compiled_us"] = _timed(
        "var_batch_compiled", lambda: measure_var_batch_compiled_us(ctx, s)
    )
    env = _timed("env", lambda: measure_env(ctx, s))
    bare = _timed("bare", lambda: measure_bare(ctx, s))
    pandas = _timed("pandas", lambda: measure_pandas(ctx, s))
    result["env_steps_per_s"] = env
    result["bare_kernel_steps_per_s"] = bare
    result["pandas_env_steps_per_s"] = pandas
    result["env_vs_bare_ratio"] = ratios(env, bare)
    result["env_vs_pandas_ratio"] = pandas_ratios(env, pandas["1"])
    result.update(_timed("ppo", lambda: measure_ppo(ctx, s)))
    if s.rss:
        result["peak_rss_mb"] = _timed("rss", lambda: measure_peak_rss_mb(cfg, s))
    if s.walk_forward_grid:  # optional, minutes: serial walk-forward vs the -m grid
        result["walk_forward_grid"] = _timed("grid", lambda: measure_walk_forward_grid(s))
    result["machine"] = machine_info()
    result["settings"] = {
        **asdict(s),
        "data": cfg.data.source,
        "training": cfg.training.name,
        "n_envs": cfg.hardware.n_envs,
    }
    return result


def run_bench(cfg: RunConfig, out_dir: str | Path) -> tuple[dict[str, Any], Path]:
    """Measure, check completeness, write ``out_dir/bench.json`` atomically; return both."""
    settings = bench_settings(cfg.extras)
    result = collect(cfg, settings)
    check_complete(result, skip=() if settings.rss else ("peak_rss_mb",))
    path = write_json_atomic(Path(out_dir) / BENCH_FILE, result)
    return result, path
