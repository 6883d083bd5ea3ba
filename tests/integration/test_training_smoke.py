"""End-to-end training through scripts/train.py: exports, checkpoints, resume, determinism."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from training_runs import EXPORTS, TINY_PPO, run_train_script

from mtquant.artifacts import load_export

# a few rollouts of 8 accounts x 32 days per phase: the smoke schedule shrunk for CI
TINY = [
    *TINY_PPO,
    *[
        f"training.{p}.{k}={v}"
        for p in ("phase1", "phase2", "phase3")
        for k, v in (("timesteps", 512), ("frames_per_batch", 256))
    ],
]


def _train(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return run_train_script(run_dir, TINY, *overrides)


def test_smoke_run_writes_five_exports_checkpoints_config_and_card(tmp_path):
    proc = _train(tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    for name in EXPORTS:
        raw = torch.load(run / name, weights_only=True)
        assert raw["metadata"]["config_hash"]
    for phase in ("phase1", "phase2", "phase3"):
        assert (run / "checkpoints" / phase / "last.ckpt").is_file()
        assert (run / "logs" / phase / "metrics.csv").is_file()
    assert (run / "config.yaml").is_file() and (run / "model_card.json").is_file()
    _, meta = load_export(run / "forex_specialist_phase1.pt")
    assert meta["symbols"] == ["EURUSD", "GBPUSD", "USDJPY"]
    assert "val/sharpe=" in proc.stdout
    header = (run / "logs" / "phase3" / "metrics.csv").read_text().splitlines()[0]
    for key in (
        "train/approx_kl",
        "train/clipfrac",
        "val/sharpe",
        "rollout/risk/proposed_var",
        "rollout/allocation/forex",
        "curriculum/cost_multiplier",
    ):
        assert key in header


@pytest.mark.slow
def test_rerun_skips_completed_phase_and_finishes_the_rest(tmp_path):
    run = tmp_path / "run"
    first = _train(run, "training.phases=[phase1]")
    assert first.returncode == 0, first.stderr[-3000:]
    assert not (run / "meta_controller_phase2.pt").exists()
    stamp = (run / "forex_specialist_phase1.pt").stat().st_mtime_ns
    second = _train(run)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (
        run / "forex_specialist_phase1.pt"
    ).stat().st_mtime_ns == stamp  # skipped, not retrained
    assert all((run / name).is_file() for name in EXPORTS)
    assert not (run / "logs" / "phase1" / "version_1").exists()


@pytest.mark.slow
def test_same_seed_gives_identical_metrics(tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        proc = _train(run, "training.phases=[phase1]", "seed=5")
        assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = ((r / "logs" / "phase1" / "metrics.csv").read_text() for r in runs)
    assert a == b


def test_bad_config_exits_2_with_one_error_line(tmp_path):
    proc = _train(tmp_path / "run", "training.ppo.clip_range=1.5")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_interrupted_phase_resumes_from_last_ckpt_to_the_same_weights(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert (
        _train(full, "training.phases=[phase1]", "training.phase1.timesteps=1024").returncode == 0
    )
    # an interrupted run: 2 of 4 rollouts done, last.ckpt written, no export yet
    assert _train(cut, "training.phases=[phase1]").returncode == 0
    for name in EXPORTS[:3]:
        (cut / name).unlink()
    resumed = _train(cut, "training.phases=[phase1]", "training.phase1.timesteps=1024")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in EXPORTS[:3]:
        a, _ = load_export(full / name)
        b, _ = load_export(cut / name)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
