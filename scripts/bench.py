"""Benchmark MTQuant: decision latency, VaR, env throughput, PPO speed, peak memory.

    python scripts/bench.py                      # full run, a few minutes on 2 CPU cores
    python scripts/bench.py extras.quick=true    # the quick run tests/performance uses

Writes ``bench.json`` (keys and units: ``mtquant.bench.runner``) into the Hydra run dir and
prints a Markdown table, then the end-to-end PPO frames/s against the issue's figures (5,708
before, goal 15,000 on 2 cores: ``ppo_vs_issue``). BLAS thread pools default to one thread (set OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS / MKL_NUM_THREADS to change it): they are sized when numpy loads, and on a
shared machine a pool per core makes small matrix products slower and noisier.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from mtquant.config import register_configs, to_object  # noqa: E402
from mtquant.errors import MTQuantError  # noqa: E402

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="bench")
def main(dcfg: DictConfig) -> None:
    from mtquant.bench.report import format_table
    from mtquant.bench.runner import run_bench

    try:
        cfg = to_object(dcfg)
        result, path = run_bench(cfg, cfg.output_dir or HydraConfig.get().runtime.output_dir)
    except MTQuantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(format_table(result))
    issue = result["ppo_vs_issue"]
    print(
        f"end-to-end hierarchical PPO: {result['ppo_frames_per_s']:,.0f} frames/s (per-phase "
        f"medians of extras.ppo_repeats fits) = {issue['ratio_to_before']:.2f}x the issue's "
        f"{issue['before_frames_per_s']:,.0f} before, {issue['ratio_to_goal']:.2f}x the "
        f"{issue['goal_frames_per_s']:,.0f} goal"
    )
    print(f"bench.json: {path}")


if __name__ == "__main__":
    main()
