"""Benchmark sizes and repeat counts, read from ``cfg.extras`` of ``conf/bench.yaml``.

``RunConfig.extras`` is free-form, so this module is the schema of the bench's part of it:
unknown keys and out-of-range values stop with a :class:`ConfigError` naming ``extras.<key>``.
``extras.quick=true`` swaps in :data:`QUICK` (few repeats, short loops, a tiny PPO run) for every
knob still at its full-run default, so ``extras.quick=true extras.repeats=5`` means 5 repeats.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from mtquant.config.training import PHASES
from mtquant.errors import ConfigError

PLAN_SCHEDULE = {"phase1": 500_000, "phase2": 300_000, "phase3": 1_000_000}  # the plan's 1.8M


@dataclass(frozen=True)
class BenchSettings:
    """Every knob of ``scripts/bench.py`` (defaults = the full run)."""

    quick: bool = False  # small repeats and loops, a tiny PPO run (tests/performance)
    threads: int = 1  # torch.set_num_threads for the in-process measurements
    repeats: int = 7  # timed repetitions; figures are medians over them
    warmup: int = 2  # untimed repetitions before the timed ones
    latency_decisions: int = 300  # HierarchicalTradingSystem.step() calls timed (p50 / p99)
    var_days: int = 250  # rows of the return history for var_us
    var_sims: int = 10_000  # Monte Carlo draws for var_us
    var_calls: int = 200  # calls per timed repetition (parametric / historical)
    var_backend: str = "numpy"  # numpy | torch: array type given to mtquant.risk_management.var
    var_batch_sizes: list[int] = field(default_factory=lambda: [1024])  # books per transform call
    batch_sizes: list[int] = field(default_factory=lambda: [1, 64, 1024])  # envs per env.step
    env_steps: int = 100  # env steps per timed repetition (each B)
    pandas_steps: int = 50  # reference pandas env steps per timed repetition (B = 1)
    ppo_phases: list[str] = field(default_factory=lambda: list(PHASES))  # phases timed
    ppo_rollouts: list[int] = field(default_factory=lambda: [1, 3])  # short and long fit
    ppo_repeats: int = 3  # short/long differences per phase; the rate is their median
    ppo_frames_per_batch: int | None = None  # None: the training config's frames_per_batch
    ppo_epochs: int | None = None  # None: the training config's ppo.n_epochs
    schedule: dict[str, int] = field(default_factory=lambda: dict(PLAN_SCHEDULE))
    rss: bool = True  # measure peak_rss_mb with a training subprocess
    rss_frames: int = 4096  # timesteps per phase of the capped run (one default rollout)
    rss_overrides: list[str] = field(
        default_factory=lambda: ["training=default", "logger=none", "training.progress_bar=false"]
    )
    rss_timeout_s: int = 1200
    # optional (minutes): scripts/backtest.py serially vs as the -m grid (bench/grid_bench.py)
    walk_forward_grid: bool = False
    grid_overrides: list[str] = field(
        default_factory=lambda: [
            "training=smoke",
            "data.walk_forward.last_folds=2",
            "extras.seeds=[0,1]",
            "training.progress_bar=false",
        ]
    )
    grid_n_jobs: int = 2  # local processes of the grid (hydra/launcher=joblib)
    grid_timeout_s: int = 1800  # per backtest run

    def validate(self) -> None:
        def need(ok: bool, key: str, value: object, expected: str) -> None:
            if not ok:
                raise ConfigError(f"config extras.{key}={value!r}: expected {expected}")

        for key in (
            "threads",
            "repeats",
            "latency_decisions",
            "var_calls",
            "env_steps",
            "ppo_repeats",
        ):
            need(getattr(self, key) >= 1, key, getattr(self, key), ">= 1")
        need(self.pandas_steps >= 1, "pandas_steps", self.pandas_steps, ">= 1")
        need(self.warmup >= 0, "warmup", self.warmup, ">= 0")
        need(self.var_days >= 3, "var_days", self.var_days, ">= 3")
        need(self.var_sims >= 2, "var_sims", self.var_sims, ">= 2")
        need(
            self.var_backend in ("numpy", "torch"),
            "var_backend",
            self.var_backend,
            "numpy or torch",
        )
        for key in ("var_batch_sizes", "batch_sizes"):
            sizes = getattr(self, key)
            need(
                bool(sizes) and all(int(b) >= 1 for b in sizes),
                key,
                sizes,
                "a non-empty list of sizes >= 1",
            )
        need(1 in self.batch_sizes, "batch_sizes", self.batch_sizes, "a list containing 1")
        unknown = [p for p in self.ppo_phases if p not in PHASES]
        need(
            bool(self.ppo_phases) and not unknown,
            "ppo_phases",
            self.ppo_phases,
            f"a non-empty list of {list(PHASES)}",
        )
        short_long = (
            len(self.ppo_rollouts) == 2 and 1 <= self.ppo_rollouts[0] < self.ppo_rollouts[1]
        )
        need(short_long, "ppo_rollouts", self.ppo_rollouts, "[short, long] with 1 <= short < long")
        for key in ("ppo_frames_per_batch", "ppo_epochs"):
            value = getattr(self, key)
            need(value is None or value >= 1, key, value, "null or >= 1")
        need(
            set(self.schedule) == set(PHASES) and all(v > 0 for v in self.schedule.values()),
            "schedule",
            self.schedule,
            f"positive timesteps for each of {list(PHASES)}",
        )
        need(self.rss_frames >= 1, "rss_frames", self.rss_frames, ">= 1")
        need(self.rss_timeout_s >= 1, "rss_timeout_s", self.rss_timeout_s, ">= 1")
        need(self.grid_n_jobs >= 1, "grid_n_jobs", self.grid_n_jobs, ">= 1")
        need(self.grid_timeout_s >= 1, "grid_timeout_s", self.grid_timeout_s, ">= 1")

    @property
    def schedule_frames(self) -> int:
        """Transitions of the whole schedule (1.8M for the plan's)."""
        return sum(self.schedule.values())


QUICK: dict[str, Any] = {
    "repeats": 3,
    "warmup": 1,
    "latency_decisions": 40,
    "var_calls": 20,
    "env_steps": 10,
    "pandas_steps": 10,
    "ppo_phases": ["phase3"],
    "ppo_rollouts": [1, 2],
    "ppo_repeats": 1,
    "ppo_frames_per_batch": 256,
    "ppo_epochs": 1,
    "rss_frames": 512,
    "rss_overrides": [  # one small phase: the quick run checks the plumbing, not the figure
        "training=default",
        "logger=none",
        "training.progress_bar=false",
        "training.phases=[phase1]",
        "training.phase1.frames_per_batch=512",
    ],
}


def bench_settings(extras: dict[str, Any]) -> BenchSettings:
    """Settings from ``cfg.extras`` (see module doc); raises ConfigError on a bad key or value."""
    known = {f.name for f in fields(BenchSettings)}
    unknown = sorted(set(extras) - known)
    if unknown:
        raise ConfigError(f"config extras.{unknown[0]}: unknown bench key; known: {sorted(known)}")
    values = {k: _plain(v) for k, v in extras.items()}
    full = BenchSettings()
    if values.get("quick", False):  # quick sizes for every knob left at its full-run default
        for key, quick_value in QUICK.items():
            if values.get(key, getattr(full, key)) == getattr(full, key):
                values[key] = quick_value
    settings = replace(full, **values)
    settings.validate()
    return settings


def _plain(value: Any) -> Any:
    """OmegaConf containers -> plain lists / dicts (``to_object`` already gives plain ones)."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value
