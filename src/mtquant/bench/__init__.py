"""Benchmarks of ``scripts/bench.py``: decision latency, VaR, env throughput, PPO speed, memory.

``run_bench(cfg, out_dir)`` measures everything and writes ``bench.json``; the keys, units and
methods are documented in :mod:`mtquant.bench.runner` and the measuring modules.
"""

from mtquant.bench.pandas_env import PandasTradingEnv
from mtquant.bench.runner import BENCH_FILE, collect, run_bench
from mtquant.bench.settings import BenchSettings, bench_settings

__all__ = [
    "BENCH_FILE",
    "BenchSettings",
    "PandasTradingEnv",
    "bench_settings",
    "collect",
    "run_bench",
]
