"""``walk_forward_grid``: the walk-forward run serially and as a grid of local processes.

An optional section of ``scripts/bench.py`` (``extras.walk_forward_grid=true``; minutes, so off
by default). The same small walk-forward (``extras.grid_overrides``, by default the last 2
packaged folds x seeds [0, 1] on the smoke schedule) runs twice as a subprocess of
``scripts/backtest.py``: serially (one process, the default mode), then as the Hydra multirun
grid on ``extras.grid_n_jobs`` local processes (``hydra/launcher=joblib``), each from a fresh
interpreter, so both pay their imports. Reported: both wall times in seconds, their ratio
(``grid_vs_serial``; the goal is <= 0.6 with 2 processes), the CPU seconds of each, all its
processes together (``*_cpu_s``: hardly changed by other work on the machine; their difference
is the grid's extra work, imports and data loading per process), the number of jobs, the
1-minute load average before each run (the machine may be shared: read the wall times against
it) and whether the two reports' headline numbers agree (they must: the jobs run the serial code
per fold and seed).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mtquant.bench.settings import BenchSettings
from mtquant.config.store import config_dir
from mtquant.errors import MTQuantError

BACKTEST_SCRIPT = Path(config_dir()).parent / "scripts" / "backtest.py"
HEADLINE_KEYS = ("sharpe", "annual_return", "max_drawdown")


def grid_commands(s: BenchSettings, serial_dir: Path, sweep_dir: Path) -> dict[str, list[str]]:
    """The serial and the grid command lines of the same walk-forward."""
    base = [sys.executable, str(BACKTEST_SCRIPT), *s.grid_overrides]
    return {
        "serial": [*base, f"hydra.run.dir={serial_dir}"],
        "grid": [
            *base[:2], "-m", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={s.grid_n_jobs}",
            *s.grid_overrides, f"hydra.sweep.dir={sweep_dir}",
        ],
    }  # fmt: skip


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished and reaped descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_run(cmd: list[str], log: Path, timeout_s: int) -> tuple[float, float]:
    """``(wall, CPU)`` seconds of ``cmd`` and its processes (output to ``log``); MTQuantError
    with its tail if it fails."""
    cpu = _children_cpu_s()
    start = time.perf_counter()
    with log.open("w") as out:
        try:
            proc = subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s,
                cwd=BACKTEST_SCRIPT.parent.parent,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise MTQuantError(f"walk_forward_grid: {cmd[1]} exceeded {timeout_s} s") from None
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise MTQuantError(f"walk_forward_grid: {' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return time.perf_counter() - start, _children_cpu_s() - cpu


def headline(metrics_path: Path) -> dict[str, dict[str, Any]]:
    """``{strategy: {sharpe, annual_return, max_drawdown}}`` of a report's ``metrics.json``."""
    strategies = json.loads(metrics_path.read_text())["strategies"]
    return {n: {k: s.get(k) for k in HEADLINE_KEYS} for n, s in strategies.items()}


def measure_walk_forward_grid(s: BenchSettings) -> dict[str, Any]:
    """Serial and grid wall time of the same walk-forward (module doc)."""
    root = Path(tempfile.mkdtemp(prefix="mtquant-bench-grid-"))
    try:
        serial_dir, sweep_dir = root / "serial", root / "grid"
        cmds = grid_commands(s, serial_dir, sweep_dir)
        load, seconds, cpu = {}, {}, {}
        for mode in ("serial", "grid"):
            load[mode] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
            seconds[mode], cpu[mode] = _timed_run(
                cmds[mode], root / f"{mode}.log", s.grid_timeout_s
            )
        grid = json.loads((sweep_dir / "walk_forward.json").read_text())
        same = headline(serial_dir / "metrics.json") == headline(sweep_dir / "metrics.json")
        return {
            "serial_s": seconds["serial"],
            "grid_s": seconds["grid"],
            "grid_vs_serial": seconds["grid"] / seconds["serial"],
            "serial_cpu_s": cpu["serial"],
            "grid_cpu_s": cpu["grid"],
            "n_jobs": s.grid_n_jobs,
            "jobs": len(grid["jobs"]),
            "load_average_1m_before": load,
            "same_headline": same,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
