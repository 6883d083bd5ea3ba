"""scripts/backtest.py -m end to end: a 2 folds x 2 seeds grid on 2 local processes (joblib),
stitched into the sweep dir; a killed job resumes and the finished ones are skipped; a job dir
of another config is named as failed while the others are still reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "data=synthetic",
    "data.walk_forward.initial_train_years=8",  # synthetic 2008..2017-12: 2 folds, 2016/2017 H1
    "data.walk_forward.last_folds=2",
    "extras.seeds=[0,1]",
    "extras.cost_multipliers=[1.0]",
    "training.phase1.timesteps=512",
    "training.phase2.timesteps=512",
    "training.phase3.timesteps=512",
    "training.single_agent.timesteps=512",
    "training.progress_bar=false",
]
JOBS = [(f, s) for f in (0, 1) for s in (0, 1)]
KEPT = ("done.json", "walk_forward_job.pkl", "forex_specialist_phase1.pt", "single_agent_ppo.pt")


def grid(sweep: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, str(ROOT / "scripts" / "backtest.py"), "-m", "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2", *TINY, f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)


def stamps(sweep: Path, fold: int, seed: int) -> dict[str, int]:
    job = sweep / f"fold_{fold}" / f"seed_{seed}"
    return {name: (job / name).stat().st_mtime_ns for name in KEPT}


def headline(sweep: Path) -> dict[str, float]:
    metrics = json.loads((sweep / "metrics.json").read_text())
    return {name: s["sharpe"] for name, s in metrics["strategies"].items()}


@pytest.mark.slow
def test_grid_stitches_every_job_resumes_a_killed_one_and_names_a_foreign_one(
    tmp_path: Path,
) -> None:
    sweep = tmp_path / "grid"
    first = grid(sweep)
    assert first.returncode == 0, first.stderr[-3000:]
    status = json.loads((sweep / "walk_forward.json").read_text())
    assert [(j["fold"], j["seed"], j["status"]) for j in status["jobs"]] == [
        (f, s, "done") for f, s in JOBS
    ]
    assert status["failed_jobs"] == [] and status["report"] == "report.html"
    metrics = json.loads((sweep / "metrics.json").read_text())
    assert set(metrics["split"]) == {"fold 0", "fold 1"}
    tables = metrics["extra_tables"]
    assert tables["Failed jobs"] == []
    system = [(r["fold"], r["seed"]) for r in tables["Runs"] if r["strategy"] == "hierarchical"]
    assert system == [(0, "0"), (0, "1"), (1, "0"), (1, "1")]
    assert {r["strategy"] for r in tables["Runs"]} >= {"equal_weight", "single_agent_ppo"}
    assert len(list(sweep.glob("*.png"))) >= 4 and (sweep / "report.html").is_file()
    sharpe = headline(sweep)

    # kill fold 1 seed 1 during phase 3: its result, marker and last exports are gone, its
    # checkpoints stay; the re-run resumes it from last.ckpt and skips the three finished jobs
    killed = sweep / "fold_1" / "seed_1"
    for name in ("done.json", "walk_forward_job.pkl", "hierarchical_system_final.pt",
                 "single_agent_ppo.pt"):  # fmt: skip
        (killed / name).unlink()
    assert (killed / "checkpoints" / "phase3" / "last.ckpt").is_file()
    finished = {(f, s): stamps(sweep, f, s) for f, s in JOBS if (f, s) != (1, 1)}
    phase1 = (killed / "forex_specialist_phase1.pt").stat().st_mtime_ns
    second = grid(sweep)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {job: stamps(sweep, *job) for job in finished} == finished  # skipped, untouched
    assert (killed / "forex_specialist_phase1.pt").stat().st_mtime_ns == phase1  # loaded
    assert (killed / "done.json").is_file() and (killed / "hierarchical_system_final.pt").is_file()
    status = json.loads((sweep / "walk_forward.json").read_text())
    assert [j["status"] for j in status["jobs"]] == ["done"] * 4
    assert headline(sweep) == sharpe  # the resumed job ends where the killed one would have

    # a job dir holding another config's finished job is refused and named; the rest reported
    foreign = sweep / "fold_0" / "seed_1" / "done.json"
    marker = json.loads(foreign.read_text())
    foreign.write_text(json.dumps({**marker, "config_hash": "0123456789abcdef"}))
    third = grid(sweep)
    assert third.returncode == 2
    assert "error: 1 of 4 walk-forward jobs did not finish: fold 0 seed 1 (failed:" in third.stderr
    status = json.loads((sweep / "walk_forward.json").read_text())
    (failed,) = status["failed_jobs"]
    assert (failed["fold"], failed["seed"], failed["job_dir"]) == (0, 1, "fold_0/seed_1")
    assert "another config" in failed["reason"]
    metrics = json.loads((sweep / "metrics.json").read_text())
    assert [r["job_dir"] for r in metrics["extra_tables"]["Failed jobs"]] == ["fold_0/seed_1"]
    runs = metrics["extra_tables"]["Runs"]
    assert [(r["fold"], r["seed"]) for r in runs if r["strategy"] == "hierarchical"] == [
        (0, "0"), (1, "0"), (1, "1"),
    ]  # fmt: skip
    page = (sweep / "report.html").read_text()
    assert "<h2>Failed jobs</h2>" in page and "another config" in page
