"""The quick benchmark run: bench.json complete, and ratios that hold on any machine.

One ``scripts/bench.py extras.quick=true`` subprocess per module (about 30 s on 2 busy cores);
no absolute wall-clock limits are asserted, only relations between figures of the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mtquant.bench.report import missing_entries

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.perf


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    run_dir = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "extras.quick=true",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((run_dir / "bench.json").read_text()), proc.stdout, run_dir


def test_quick_bench_writes_every_key_as_a_positive_finite_number(quick_run) -> None:
    result, _, run_dir = quick_run
    assert missing_entries(result) == []
    assert result["machine"]["cores"] >= 1
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_quick_bench_prints_the_table_with_its_path(quick_run) -> None:
    _, stdout, run_dir = quick_run
    assert "| env_steps_per_s" in stdout and "| decision_latency_ms" in stdout
    assert str(run_dir / "bench.json") in stdout


def test_batched_env_processes_more_transitions_than_one_env(quick_run) -> None:
    env = quick_run[0]["env_steps_per_s"]
    assert env["64"] > env["1"]
    assert (
        quick_run[0]["bare_kernel_steps_per_s"]["64"] > quick_run[0]["bare_kernel_steps_per_s"]["1"]
    )


def test_bare_kernel_is_not_much_slower_than_the_torchrl_env(quick_run) -> None:
    env, bare = quick_run[0]["env_steps_per_s"], quick_run[0]["bare_kernel_steps_per_s"]
    for b in ("1", "64", "1024"):
        assert bare[b] * 2.0 >= env[b], (b, bare[b], env[b])  # same math minus TorchRL


def test_ratios_are_the_quotients_of_their_figures(quick_run) -> None:
    r = quick_run[0]
    for b in ("1", "64", "1024"):
        assert r["env_vs_bare_ratio"][b] == pytest.approx(
            r["env_steps_per_s"][b] / r["bare_kernel_steps_per_s"][b]
        )
        assert r["env_vs_pandas_ratio"][b] == pytest.approx(
            r["env_steps_per_s"][b] / r["pandas_env_steps_per_s"]["1"]
        )
    assert r["full_schedule_minutes_estimate"] == pytest.approx(1.8e6 / r["ppo_frames_per_s"] / 60)


def test_batched_env_beats_the_row_lookup_pandas_env(quick_run) -> None:
    assert quick_run[0]["env_vs_pandas_ratio"]["64"] > 1.0


def test_latency_p99_is_not_below_p50(quick_run) -> None:
    lat = quick_run[0]["decision_latency_ms"]
    assert lat["p99"] >= lat["p50"]


def test_monte_carlo_var_costs_more_than_parametric(quick_run) -> None:
    var = quick_run[0]["var_us"]
    assert var["monte_carlo"] > var["parametric"]  # 10k draws vs one standard deviation


def test_bad_bench_knob_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "extras.repeats=0",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: config extras.repeats=0")
