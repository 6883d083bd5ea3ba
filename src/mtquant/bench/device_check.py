"""The accelerator check of ``scripts/gpu_check.py``: does the pipeline run on the device, how fast.

Four parts, all on ``device`` through the code a training run uses (``hardware.env_device`` and
Lightning's accelerator come from the ``hardware`` group: ``hardware=cuda`` on a GPU):

1. ``smoke_training``: :meth:`Experiment.fit` of ``training=smoke`` (every stage, exports
   written) on ``hardware=cuda``; wall time, frames, each stage's ``val/sharpe``, the peak
   device memory (evidence that the learner and the env ran there), where the policy is after
   the fit, and one evaluation pass of it on the validation split (the CPU evaluation path);
2. ``env_steps_per_s[B]``: ``make_env`` (env + ``PortfolioRiskTransform``) on the device stepped
   with ``step_and_maybe_reset`` at B accounts (4096 and 16384), transitions per second;
3. ``transform_books_per_s[B]``: the risk transform's action path alone
   (``PortfolioRiskTransform.inv`` on a reset tensordict of B books), books per second;
4. ``ppo_frames_per_s``: end-to-end PPO of ``training=default`` phase 3 on the device, the
   bench's short/long difference (:func:`~mtquant.bench.training_bench.median_phase_rate`).

A part that raises is recorded under ``errors`` (type and message; the traceback goes to the
log) and the others still run, so one failure on a new machine does not hide the other figures.
Every rate is the median of ``repeats`` timed blocks after ``warmup`` untimed ones, with
``torch.cuda.synchronize`` closing each block on a GPU (kernels run asynchronously). ``small``
sizes run the same code on the CPU in seconds (``--device cpu --small``: the test of this
module); their figures mean nothing.
"""

from __future__ import annotations

import logging
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from mtquant.bench.risk_bench import bench_book
from mtquant.bench.settings import BenchSettings
from mtquant.bench.timing import time_block
from mtquant.bench.training_bench import median_phase_rate
from mtquant.config import compose_config, to_object
from mtquant.config.store import RunConfig
from mtquant.errors import ConfigError
from mtquant.evaluation.metrics import sharpe_ratio
from mtquant.experiment import Experiment

PPO_PHASE = "phase3"
log = logging.getLogger("mtquant.bench")


@dataclass(frozen=True)
class CheckSizes:
    """How much each part of the check runs."""

    batch_sizes: tuple[int, ...]  # accounts per env step (env and transform throughput)
    env_steps: int  # env steps per timed block
    transform_calls: int  # transform calls per timed block
    repeats: int  # timed blocks; figures are medians
    warmup: int  # untimed blocks first
    ppo_rollouts: tuple[int, int]  # short and long fit of the PPO rate
    ppo_repeats: int  # PPO rate measurements (median)
    overrides: tuple[str, ...]  # config overrides of every part (the small run's tiny schedule)


FULL = CheckSizes(
    batch_sizes=(4096, 16384),
    env_steps=50,
    transform_calls=20,
    repeats=5,
    warmup=2,
    ppo_rollouts=(1, 3),
    ppo_repeats=3,
    overrides=(),
)
SMALL = CheckSizes(
    batch_sizes=(8, 16),
    env_steps=3,
    transform_calls=2,
    repeats=2,
    warmup=1,
    ppo_rollouts=(1, 2),
    ppo_repeats=1,
    overrides=(
        "hardware.n_envs=8",
        "training.ppo.n_epochs=1",
        "training.ppo.minibatch_size=32",
        "training.val_check_interval=100",
        *(
            f"training.{s}.{k}={v}"
            for s in ("phase1", "phase2", "phase3", "single_agent")
            for k, v in (("timesteps", 32), ("frames_per_batch", 32))
        ),
    ),
)


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)``; :class:`ConfigError` naming the torch build when it is a CUDA
    device and none is present (the script turns it into exit code 2)."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"gpu_check: no CUDA device (torch {torch.__version__}, built with CUDA "
            f"{torch.version.cuda}, torch.cuda.is_available() is False); run it on a GPU "
            "machine, or use --device cpu --small to exercise the same code on the CPU"
        )
    if device.type not in ("cuda", "cpu"):
        raise ConfigError(f"gpu_check: --device {name!r}: expected cuda, cuda:N or cpu")
    return device


def check_config(device: torch.device, training: str, sizes: CheckSizes) -> RunConfig:
    """The run config of a part: ``hardware=cuda`` (or ``cpu``), synthetic data, ``training``."""
    hardware = "cuda" if device.type == "cuda" else "cpu"
    overrides = [
        f"hardware={hardware}",
        f"hardware.env_device={device}",
        "data=synthetic",
        f"training={training}",
        "logger=none",
        "training.progress_bar=false",
        *sizes.overrides,
    ]
    return to_object(compose_config("train", overrides))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(fn: Callable[[], object], work: float, device: torch.device, sizes: CheckSizes) -> float:
    """Median ``work`` per second of ``fn`` with the device's queue drained in each block."""

    def block() -> None:
        fn()
        _synchronize(device)

    return time_block(block, sizes.repeats, sizes.warmup).rate(work)


def env_steps_per_s(exp: Experiment, device: torch.device, sizes: CheckSizes) -> dict[str, float]:
    """Transitions / s of the env + risk transform on ``device`` per batch size (module doc)."""
    out: dict[str, float] = {}
    for b in sizes.batch_sizes:
        env = exp.make_env(exp.splits.train, batch_size=b, device=device, seed=exp.cfg.seed)
        action = bench_book(exp.universe.n, b).float().to(device)
        state = {"td": env.reset()}

        def run(env: Any = env, action: torch.Tensor = action, state: dict = state) -> None:
            td = state["td"]
            for _ in range(sizes.env_steps):
                td.set("target_weights", action)
                _, td = env.step_and_maybe_reset(td)
            state["td"] = td

        out[str(b)] = _rate(run, b * sizes.env_steps, device, sizes)
    return out


def transform_books_per_s(
    exp: Experiment, device: torch.device, sizes: CheckSizes
) -> dict[str, float]:
    """Books / s through ``PortfolioRiskTransform.inv`` on ``device`` per batch size."""
    out: dict[str, float] = {}
    for b in sizes.batch_sizes:
        env = exp.make_env(exp.splits.train, batch_size=b, device=device, seed=exp.cfg.seed)
        td = env.reset()
        td.set("target_weights", bench_book(exp.universe.n, b).float().to(device))
        transform = env.transform

        def run(transform: Any = transform, td: Any = td) -> None:
            for _ in range(sizes.transform_calls):
                transform.inv(td.copy())

        out[str(b)] = _rate(run, b * sizes.transform_calls, device, sizes)
    return out


def smoke_training(exp: Experiment, device: torch.device) -> dict[str, Any]:
    """Fit every stage of the experiment's schedule into a temporary run dir (module doc)."""
    run_dir = Path(tempfile.mkdtemp(prefix="mtquant-gpu-check-"))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        start = time.perf_counter()
        result = exp.fit(run_dir)
        seconds = time.perf_counter() - start
        exports = sorted(p.name for p in run_dir.glob("*.pt"))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    frames = sum(float(m.get("frames", 0.0)) for m in result["phases"].values())
    after = {str(t.device) for t in exp.policy.parameters()}
    val = exp.run(exp.system_actor(), "hierarchical", exp.splits.val, hierarchical=True)
    return {
        "policy_device_after_fit": sorted(after),
        "evaluation_after_fit": {
            "days": int(val.returns.size),
            "sharpe": sharpe_ratio(val.returns),
        },
        "seconds": seconds,
        "frames": frames,
        "frames_per_s": frames / seconds,
        "val_sharpe": {p: m.get("val/sharpe") for p, m in result["phases"].items()},
        "exports": exports,
        "peak_device_memory_mb": (
            torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        ),
    }


def ppo_rate(exp: Experiment, device: torch.device, sizes: CheckSizes) -> dict[str, Any]:
    """End-to-end PPO frames / s of ``training=default`` phase 3 on ``device`` (median)."""
    cfg = check_config(device, "default", sizes)
    settings = replace(
        BenchSettings(),
        ppo_phases=[PPO_PHASE],
        ppo_rollouts=list(sizes.ppo_rollouts),
        ppo_repeats=sizes.ppo_repeats,
    )
    median, samples = median_phase_rate(replace(exp, cfg=cfg), PPO_PHASE, settings)
    return {
        "phase": PPO_PHASE,
        "training": "default",
        "n_envs": cfg.hardware.n_envs,
        "frames_per_batch": cfg.training.phase3.frames_per_batch,
        "frames_per_s": median,
        "samples": samples,
    }


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's as the platform reports it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def run_device_check(device_arg: str, small: bool) -> dict[str, Any]:
    """Every part of the check on ``device_arg`` (full sizes, or ``small``); the JSON payload."""
    device = resolve_device(device_arg)
    sizes = SMALL if small else FULL
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    exp = Experiment.from_config(check_config(device, "smoke", sizes))
    seconds["prepare"] = time.perf_counter() - start
    parts: dict[str, Callable[[], Any]] = {
        "smoke_training": lambda: smoke_training(exp, device),
        "env_steps_per_s": lambda: env_steps_per_s(exp, device, sizes),
        "transform_books_per_s": lambda: transform_books_per_s(exp, device, sizes),
        "ppo": lambda: ppo_rate(exp, device, sizes),
    }
    result: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, part in parts.items():
        t0 = time.perf_counter()
        try:
            result[name] = part()
        except Exception as exc:  # a failing part must not hide the figures of the others
            log.exception("gpu_check part %s failed", name)
            result[name], errors[name] = None, f"{type(exc).__name__}: {exc}"[:2000]
        seconds[name] = time.perf_counter() - t0
    return {
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "date": datetime.now().isoformat(timespec="seconds"),
        "small": small,
        "hardware": asdict(exp.cfg.hardware),
        "sizes": asdict(sizes),
        **result,
        "errors": errors,
        "seconds": seconds,
    }
