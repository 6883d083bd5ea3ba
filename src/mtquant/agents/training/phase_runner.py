"""Build and fit one phase: env -> TorchRL collector -> rollout feed -> phase module -> Trainer.

``PhaseInputs`` carries what every phase shares (config, run dir, policy, features, splits,
an env factory); :func:`fit_phase` builds the phase's pieces from config, resumes from the
phase's ``last.ckpt`` when one exists, fits, validates and returns the validation metrics.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchrl.collectors import BaseCollector, Collector, MultiSyncCollector
from torchrl.envs import EnvBase

from mtquant.agents.training.collector_dataset import (
    RolloutMinibatches,
    learner_keys,
    policy_values,
)
from mtquant.agents.training.curriculum import Curriculum, CurriculumEnv, WorkerEnvHooks
from mtquant.agents.training.phase1_train_specialists import Phase1SpecialistsModule
from mtquant.agents.training.phase2_train_meta import Phase2MetaModule
from mtquant.agents.training.phase3_joint_training import Phase3JointModule
from mtquant.agents.training.ppo_loss import PPOCoefficients
from mtquant.agents.training.ppo_module import HierarchicalPPOModule
from mtquant.agents.training.single_agent import SingleAgentModule
from mtquant.agents.training.trainer_factory import LAST_CKPT, checkpoint_dir, make_trainer
from mtquant.agents.training.validation import run_validation
from mtquant.config.store import RunConfig
from mtquant.config.training import PHASES, SINGLE_AGENT, PhaseConfig
from mtquant.errors import ConfigError

PHASE_MODULES: dict[str, type[HierarchicalPPOModule]] = {
    "phase1": Phase1SpecialistsModule,
    "phase2": Phase2MetaModule,
    "phase3": Phase3JointModule,
    SINGLE_AGENT: SingleAgentModule,
}

# make_env(cfg, features, split, batch_size=..., device=..., seed=...) -> TorchRL env
EnvFactory = Callable[..., EnvBase]


@dataclass
class PhaseInputs:
    """What the phases share: built once per run by the pipeline."""

    cfg: RunConfig
    run_dir: Path
    policy: Any  # HierarchicalPolicy (the single-agent stage: a SingleAgentView)
    features: Any  # FeatureSet
    train_split: tuple[int, int]
    val_split: tuple[int, int]
    make_env: EnvFactory


@dataclass(frozen=True)
class Schedule:
    """Rollout geometry of a phase: ``frames = n_envs x steps`` per rollout, ``n_rollouts`` of them."""

    n_envs: int
    steps: int
    n_rollouts: int

    @property
    def frames(self) -> int:
        return self.n_envs * self.steps


def phase_schedule(pcfg: PhaseConfig, n_envs: int) -> Schedule:
    """Round ``frames_per_batch`` to whole env steps and cover ``timesteps`` with rollouts."""
    steps = max(1, pcfg.frames_per_batch // n_envs)
    return Schedule(n_envs, steps, max(1, math.ceil(pcfg.timesteps / (n_envs * steps))))


def phase_seed(seed: int, phase: str) -> int:
    """Distinct, reproducible seed per (run seed, stage).

    ``3 seed + {0, 1, 2}`` for the phases; ``2**30 + seed`` for the single agent, a range no
    phase of another run seed reaches (for seeds below 2**29).
    """
    if phase == SINGLE_AGENT:
        return 2**30 + int(seed)
    return 3 * int(seed) + PHASES.index(phase)


def make_collector(
    inputs: PhaseInputs, env: EnvBase | None, actor: Any, frames: int, seed: int
) -> BaseCollector:
    """Single-process ``Collector`` on ``env``, or ``MultiSyncCollector`` with ``collector_workers``.

    With ``W = hardware.collector_workers > 0`` each worker process builds its own env of
    ``n_envs / W`` accounts (``env`` is unused) and collects ``frames / W`` transitions per rollout;
    the results are concatenated along the env axis, so the learner sees the same ``[n_envs, T]``
    rollout as in-process. Workers are seeded per rollout (``set_seed``: env and torch RNG).
    """
    hw = inputs.cfg.hardware
    common = dict(
        frames_per_batch=frames,
        total_frames=-1,
        reset_at_each_iter=True,  # each rollout = fresh episodes: resumable from the rollout index
        trust_policy=True,
    )
    if hw.collector_workers == 0:
        if env is None:
            raise ConfigError("make_collector: an in-process collector needs an env")
        return Collector(env, actor, auto_register_policy_transforms=False, **common)
    per_worker = max(1, hw.n_envs // hw.collector_workers)
    make = functools.partial(
        inputs.make_env,
        inputs.cfg,
        inputs.features,
        inputs.train_split,
        batch_size=per_worker,
        device=hw.env_device,
        seed=seed,
    )
    return MultiSyncCollector([make] * hw.collector_workers, actor, cat_results=0, **common)


def validator(inputs: PhaseInputs, seed: int) -> Callable[[Any], dict[str, float]]:
    """The validation episode: one account from the first to the last tradable val row."""
    start, stop = inputs.val_split
    first = max(start, inputs.features.valid_from)
    env = inputs.make_env(
        inputs.cfg,
        inputs.features,
        inputs.val_split,
        batch_size=1,
        device=inputs.cfg.hardware.env_device,
        seed=seed,
        episode_length=max(2, stop - first),
        start_rows=[first],
    )
    actor = inputs.policy.with_sizing(
        inputs.cfg.env.sizing_target_vol, inputs.cfg.env.max_gross_weight
    )

    def validate(_policy: Any) -> dict[str, float]:
        return run_validation(env, actor, max_steps=stop - start)

    return validate


def fit_phase(inputs: PhaseInputs, phase: str) -> dict[str, float]:
    """Train ``phase`` (resuming from its ``last.ckpt`` if present); return ``val/...`` metrics."""
    cfg = inputs.cfg
    pcfg: PhaseConfig = getattr(cfg.training, phase)
    sched = phase_schedule(pcfg, cfg.hardware.n_envs)
    seed = phase_seed(cfg.seed, phase)
    module_cls = PHASE_MODULES[phase]
    inputs.policy.fixed_allocation = (
        module_cls.fixed_allocation
    )  # before the collector's first reset

    actor = inputs.policy.with_sizing(cfg.env.sizing_target_vol, cfg.env.max_gross_weight)
    env = None
    if cfg.hardware.collector_workers == 0:
        env = inputs.make_env(
            cfg,
            inputs.features,
            inputs.train_split,
            batch_size=sched.n_envs,
            device=cfg.hardware.env_device,
            seed=seed,
        )
    collector = make_collector(inputs, env, actor, sched.frames, seed)
    curriculum: Curriculum | None = None
    if (
        len(pcfg.curriculum) > 1
        or pcfg.curriculum[0].max_volatility_quantile < 1.0
        or pcfg.curriculum[0].cost_multiplier != 1.0
    ):
        hooks: CurriculumEnv = env if env is not None else WorkerEnvHooks(collector)
        curriculum = Curriculum(
            hooks,
            pcfg.curriculum,
            sched.n_rollouts * sched.frames,
            sched.frames,
            inputs.features.vol,
            base_cost_multiplier=cfg.env.cost_multiplier,
        )
    ppo = cfg.training.ppo
    feed = RolloutMinibatches(
        collector,
        policy_values(inputs.policy),
        list(inputs.policy.names),
        ppo.gamma,
        ppo.gae_lambda,
        ppo.n_epochs,
        ppo.minibatch_size,
        seed,
        before_rollout=curriculum,
        policy=inputs.policy,
        keys=learner_keys(inputs.policy),
        actor=actor,
        reward_levels=1 + len(inputs.policy.names),  # the levels the policy has values for
    )
    module = module_cls(
        inputs.policy,
        feed,
        len(inputs.policy.names),
        module_cls.group_schedules(pcfg),
        PPOCoefficients(ppo.clip_range, ppo.value_coef, ppo.entropy_coef),
        ppo.max_grad_norm,
        validate_fn=validator(inputs, seed),
        weight_decay=ppo.weight_decay,
    )
    trainer = make_trainer(cfg, inputs.run_dir, phase, sched.n_rollouts)
    last = checkpoint_dir(inputs.run_dir, phase) / LAST_CKPT
    inputs.policy.train()  # the module keeps it in eval mode during rollouts and updates
    try:
        trainer.fit(module, ckpt_path=str(last) if last.is_file() else None)
        if sched.n_rollouts % cfg.training.val_check_interval != 0 or not module.last_val:
            trainer.validate(module, verbose=False)
    finally:
        collector.shutdown()
    return {f"val/{k}": v for k, v in module.last_val.items()} | {
        "frames": float(feed.state.frames * trainer.world_size),  # all DDP ranks
        "rollouts": float(feed.state.rollouts),
    }
