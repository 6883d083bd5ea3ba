"""``ppo_frames_per_s``, ``full_schedule_minutes_estimate`` and ``peak_rss_mb``.

PPO speed is measured through the training pipeline itself: :meth:`Experiment.fit_stage` (the
env with the risk transform, the TorchRL collector, GAE, the PPO epochs in the stage's
LightningModule, checkpoints every rollout). Each
timed phase is fitted twice in fresh run directories, with ``short`` and ``long`` rollouts;
the rate is ``(frames_long - frames_short) / (seconds_long - seconds_short)``, which cancels
the per-fit overhead (Trainer set-up, the final validation episode) that a long schedule pays
only once per phase. The schedule estimate weights each phase by its share of the plan's
timesteps: ``minutes = sum_p timesteps_p / rate_p / 60`` and ``ppo_frames_per_s`` is the
schedule's frames over that time (phases not timed take the mean rate of the timed ones). Each
phase's rate is the median of ``ppo_repeats`` such differences (every sample is kept), and
``ppo_vs_issue`` sets ``ppo_frames_per_s`` against the issue's figures: 5,708 frames/s before,
a goal of 15,000 on 2 cores.

Peak memory: ``scripts/train.py`` with the default config (``rss_overrides``, by default
``training=default``) and every phase capped at ``rss_frames`` timesteps runs in a subprocess;
its peak resident set is the ``ru_maxrss`` (KiB on Linux) of that child, read with
``os.wait4`` — the per-child value of ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, which
would also count other children of this process.
"""

from __future__ import annotations

import copy
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from mtquant.bench.settings import BenchSettings
from mtquant.config.store import RunConfig, config_dir
from mtquant.config.training import PHASES
from mtquant.errors import MTQuantError
from mtquant.experiment import Experiment

TRAIN_SCRIPT = Path(config_dir()).parent / "scripts" / "train.py"
ISSUE_BEFORE_FPS = 5708.0  # end-to-end hierarchical PPO before the throughput work (README)
ISSUE_GOAL_FPS = 15000.0  # the goal on 2 CPU cores


def phase_config(cfg: RunConfig, phase: str, rollouts: int, s: BenchSettings) -> RunConfig:
    """``cfg`` with ``phase`` set to ``rollouts`` rollouts, validated once after the fit."""
    out = copy.deepcopy(cfg)
    pcfg = getattr(out.training, phase)
    if s.ppo_frames_per_batch is not None:
        pcfg.frames_per_batch = s.ppo_frames_per_batch
    if s.ppo_epochs is not None:
        out.training.ppo.n_epochs = s.ppo_epochs
    n_envs = out.hardware.n_envs
    frames = max(1, pcfg.frames_per_batch // n_envs) * n_envs
    pcfg.timesteps = rollouts * frames
    out.training.phases = [phase]
    out.training.val_check_interval = rollouts + 1  # validate once, after the fit
    out.training.progress_bar = False
    return out


def fit_seconds(ctx: Experiment, cfg: RunConfig, phase: str) -> tuple[float, float]:
    """(frames, seconds) of one stage fit (``Experiment.fit_stage`` with the phase's schedule
    ``cfg``) in a fresh temporary run directory; the experiment's policy keeps training."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"mtquant-bench-{phase}-"))
    try:
        start = time.perf_counter()
        metrics = replace(ctx, cfg=cfg).fit_stage(phase, run_dir)
        return float(metrics["frames"]), time.perf_counter() - start
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def phase_rate(ctx: Experiment, phase: str, s: BenchSettings) -> float:
    """Steady-state frames / s of ``phase`` (difference of a short and a long fit)."""
    short, long = s.ppo_rollouts
    f_short, t_short = fit_seconds(ctx, phase_config(ctx.cfg, phase, short, s), phase)
    f_long, t_long = fit_seconds(ctx, phase_config(ctx.cfg, phase, long, s), phase)
    if t_long <= t_short:  # timer noise swamped the extra rollouts: fall back to the long fit
        return f_long / t_long
    return (f_long - f_short) / (t_long - t_short)


def median_phase_rate(ctx: Experiment, phase: str, s: BenchSettings) -> tuple[float, list[float]]:
    """(median, samples) of ``s.ppo_repeats`` measurements of :func:`phase_rate`."""
    samples = [phase_rate(ctx, phase, s) for _ in range(s.ppo_repeats)]
    return statistics.median(samples), samples


def issue_ratios(frames_per_s: float) -> dict[str, float | bool]:
    """``frames_per_s`` next to the issue's figures: 5,708 frames/s before the throughput work
    (README), the goal of 15,000 on 2 cores."""
    return {
        "before_frames_per_s": ISSUE_BEFORE_FPS,
        "goal_frames_per_s": ISSUE_GOAL_FPS,
        "ratio_to_before": frames_per_s / ISSUE_BEFORE_FPS,
        "ratio_to_goal": frames_per_s / ISSUE_GOAL_FPS,
        "goal_met": frames_per_s >= ISSUE_GOAL_FPS,
    }


def measure_ppo(ctx: Experiment, s: BenchSettings) -> dict[str, object]:
    """``ppo_frames_per_s``, ``full_schedule_minutes_estimate``, the per-phase rates (medians of
    ``ppo_repeats``, with every sample) and ``ppo_vs_issue`` (:func:`issue_ratios`)."""
    measured = {p: median_phase_rate(ctx, p, s) for p in s.ppo_phases}
    rates = {p: median for p, (median, _) in measured.items()}
    mean_rate = sum(rates.values()) / len(rates)
    seconds = sum(s.schedule[p] / rates.get(p, mean_rate) for p in PHASES)
    fps = s.schedule_frames / seconds
    return {
        "ppo_frames_per_s": fps,
        "full_schedule_minutes_estimate": seconds / 60.0,
        "ppo_phase_frames_per_s": rates,
        "ppo_phase_frames_per_s_samples": {p: samples for p, (_, samples) in measured.items()},
        "ppo_vs_issue": issue_ratios(fps),
    }


def rss_command(cfg: RunConfig, s: BenchSettings, run_dir: Path) -> list[str]:
    """``scripts/train.py`` with the default config capped at ``rss_frames`` per phase."""
    caps = [f"training.{p}.timesteps={s.rss_frames}" for p in PHASES]
    return [
        sys.executable,
        str(TRAIN_SCRIPT),
        *s.rss_overrides,
        *caps,
        f"seed={cfg.seed}",
        f"hydra.run.dir={run_dir}",
    ]


def measure_peak_rss_mb(cfg: RunConfig, s: BenchSettings) -> float:
    """Peak RSS (MiB) of the capped default training run (module doc)."""
    run_dir = Path(tempfile.mkdtemp(prefix="mtquant-bench-rss-"))
    log = run_dir / "train.log"
    try:
        with log.open("w") as out:
            proc = subprocess.Popen(
                rss_command(cfg, s, run_dir),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=TRAIN_SCRIPT.parent.parent,
            )
            deadline = time.monotonic() + s.rss_timeout_s
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    raise MTQuantError(
                        f"peak_rss_mb: training run exceeded rss_timeout_s={s.rss_timeout_s}"
                    )
                time.sleep(0.1)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise MTQuantError(f"peak_rss_mb: training run exited {proc.returncode}:\n{tail}")
        return usage.ru_maxrss / 1024.0
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
