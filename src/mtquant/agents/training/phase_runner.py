"""Fit one stage: env -> TorchRL collector -> rollout feed -> :class:`PPOModule` -> Trainer.

:func:`fit_stage` builds the stage's pieces from config, resumes from the stage's ``last.ckpt``
when one exists, fits, validates and returns the validation metrics. It is what
:meth:`mtquant.experiment.Experiment.fit` runs for each row of the stage table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torchrl.collectors import BaseCollector, Collector, MultiSyncCollector
from torchrl.envs import EnvBase

from mtquant.agents.environments.parallel_env_wrapper import EnvFactory, worker_env_factories
from mtquant.agents.training.collector_dataset import (
    RolloutMinibatches,
    learner_keys,
    policy_values,
)
from mtquant.agents.training.curriculum import Curriculum, CurriculumEnv, WorkerEnvHooks
from mtquant.agents.training.ppo_loss import PPOCoefficients
from mtquant.agents.training.ppo_module import PPOModule
from mtquant.agents.training.stage import Stage
from mtquant.agents.training.trainer_factory import make_trainer
from mtquant.agents.training.validation import run_validation
from mtquant.artifacts import RunDir
from mtquant.config.store import RunConfig
from mtquant.config.training import PhaseConfig
from mtquant.errors import ConfigError
from mtquant.features.feature_set import FeatureSet


@dataclass(frozen=True)
class Schedule:
    """Rollout geometry of a stage: ``frames = n_envs x steps`` per rollout, ``n_rollouts`` of them."""

    n_envs: int
    steps: int
    n_rollouts: int

    @property
    def frames(self) -> int:
        return self.n_envs * self.steps


def stage_schedule(pcfg: PhaseConfig, n_envs: int) -> Schedule:
    """Round ``frames_per_batch`` to whole env steps and cover ``timesteps`` with rollouts."""
    steps = max(1, pcfg.frames_per_batch // n_envs)
    return Schedule(n_envs, steps, max(1, math.ceil(pcfg.timesteps / (n_envs * steps))))


def make_collector(
    cfg: RunConfig,
    make_env: EnvFactory,
    features: FeatureSet,
    train_split: tuple[int, int],
    env: EnvBase | None,
    actor: Any,
    frames: int,
    seed: int,
) -> BaseCollector:
    """Single-process ``Collector`` on ``env``, or ``MultiSyncCollector`` with ``collector_workers``.

    With ``W = hardware.collector_workers > 0`` each worker process builds its own env of
    ``n_envs / W`` accounts (:func:`worker_env_factories`; ``env`` is unused) and collects
    ``frames / W`` transitions per rollout; the results are concatenated along the env axis, so
    the learner sees the same ``[n_envs, T]`` rollout as in-process. Workers are seeded per
    rollout (``set_seed``: env and torch RNG).
    """
    common = dict(
        frames_per_batch=frames,
        total_frames=-1,
        reset_at_each_iter=True,  # each rollout = fresh episodes: resumable from the rollout index
        trust_policy=True,
    )
    if cfg.hardware.collector_workers == 0:
        if env is None:
            raise ConfigError("make_collector: an in-process collector needs an env")
        return Collector(env, actor, auto_register_policy_transforms=False, **common)
    factories = worker_env_factories(make_env, cfg, features, train_split, seed)
    return MultiSyncCollector(factories, actor, cat_results=0, **common)


def validator(
    cfg: RunConfig,
    make_env: EnvFactory,
    features: FeatureSet,
    val_split: tuple[int, int],
    policy: Any,
    seed: int,
) -> Callable[[Any], dict[str, float]]:
    """The validation episode: one account from the first to the last tradable val row."""
    start, stop = val_split
    first = max(start, features.valid_from)
    env = make_env(
        cfg,
        features,
        val_split,
        batch_size=1,
        device=cfg.hardware.env_device,
        seed=seed,
        episode_length=max(2, stop - first),
        start_rows=[first],
    )
    actor = policy.with_sizing(cfg.env.sizing_target_vol, cfg.env.max_gross_weight)

    def validate(_policy: Any) -> dict[str, float]:
        return run_validation(env, actor, max_steps=stop - start)

    return validate


def has_curriculum(pcfg: PhaseConfig) -> bool:
    """True unless ``training.<stage>.curriculum`` is one stage at full costs and all periods."""
    stages = pcfg.curriculum
    return (
        len(stages) > 1
        or stages[0].max_volatility_quantile < 1.0
        or stages[0].cost_multiplier != 1.0
    )


def fit_stage(
    stage: Stage,
    policy: Any,
    cfg: RunConfig,
    features: FeatureSet,
    splits: tuple[tuple[int, int], tuple[int, int]],
    make_env: EnvFactory,
    run_dir: RunDir,
) -> dict[str, float]:
    """Train ``stage`` on ``policy`` (resuming from its ``last.ckpt``); return ``val/...`` metrics.

    ``splits`` is ``(train rows, validation rows)``; ``make_env(cfg, features, split, ...)`` builds
    the env with the risk transform (a module-level function: worker processes pickle it).
    """
    train_split, val_split = splits
    pcfg: PhaseConfig = getattr(cfg.training, stage.name)
    sched = stage_schedule(pcfg, cfg.hardware.n_envs)
    seed = stage.seed(cfg.seed)
    policy.fixed_allocation = stage.fixed_allocation  # before the collector's first reset
    trainer = make_trainer(cfg, run_dir, stage.name, sched.n_rollouts)
    # the collector runs the policy once when it is built, on env tensors: put the policy where
    # Lightning will train it (hardware=cuda: the GPU, like the env) before that call
    policy.to(trainer.strategy.root_device)

    actor = policy.with_sizing(cfg.env.sizing_target_vol, cfg.env.max_gross_weight)
    env = None
    if cfg.hardware.collector_workers == 0:
        env = make_env(
            cfg,
            features,
            train_split,
            batch_size=sched.n_envs,
            device=cfg.hardware.env_device,
            seed=seed,
        )
    collector = make_collector(cfg, make_env, features, train_split, env, actor, sched.frames, seed)
    curriculum: Curriculum | None = None
    if has_curriculum(pcfg):
        hooks: CurriculumEnv = env if env is not None else WorkerEnvHooks(collector)
        curriculum = Curriculum(
            hooks,
            pcfg.curriculum,
            sched.n_rollouts * sched.frames,
            sched.frames,
            features.vol,
            base_cost_multiplier=cfg.env.cost_multiplier,
        )
    ppo = cfg.training.ppo
    feed = RolloutMinibatches(
        collector,
        policy_values(policy),
        list(policy.names),
        ppo.gamma,
        ppo.gae_lambda,
        ppo.n_epochs,
        ppo.minibatch_size,
        seed,
        before_rollout=curriculum,
        policy=policy,
        keys=learner_keys(policy),
        actor=actor,
        reward_levels=1 + len(policy.names),  # the levels the policy has values for
    )
    module = PPOModule(
        stage,
        policy,
        feed,
        len(policy.names),
        stage.schedules(pcfg),
        PPOCoefficients(ppo.clip_range, ppo.value_coef, ppo.entropy_coef),
        ppo.max_grad_norm,
        validate_fn=validator(cfg, make_env, features, val_split, policy, seed),
        weight_decay=ppo.weight_decay,
    )
    last = run_dir.last_ckpt(stage.name)
    policy.train()  # the module keeps it in eval mode during rollouts and updates
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
