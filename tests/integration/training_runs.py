"""Shared pieces of the training integration tests: the exports, shrunk smoke overrides and a
``scripts/train.py`` runner (imported by the test modules beside it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the five exports issue 6 names, in the order the phases write them
EXPORTS = (
    "forex_specialist_phase1.pt",
    "commodities_specialist_phase1.pt",
    "equity_specialist_phase1.pt",
    "meta_controller_phase2.pt",
    "hierarchical_system_final.pt",
)
# training=smoke on synthetic data, CSV logs, one thread, no progress bar
SMOKE_CSV = [
    "training=smoke",
    "logger=csv",
    "data=synthetic",
    "training.progress_bar=false",
    "hardware.torch_threads=1",
]
# ... shrunk further: 8 accounts a rollout, one pass over it in minibatches of 128
TINY_PPO = [
    *SMOKE_CSV,
    "hardware.n_envs=8",
    "training.ppo.n_epochs=1",
    "training.ppo.minibatch_size=128",
]


def run_train_script(
    run_dir: Path, base: list[str], *overrides: str
) -> subprocess.CompletedProcess[str]:
    """``scripts/train.py base... hydra.run.dir=run_dir overrides...`` in a child process."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *base, f"hydra.run.dir={run_dir}"]
        + list(overrides),
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
