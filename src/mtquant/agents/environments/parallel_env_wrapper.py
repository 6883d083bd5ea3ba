"""Environments of a multi-process TorchRL collector (``hardware.collector_workers = W > 0``).

Training collects in one process by default: one :class:`MultiInstrumentEnv` batching
``hardware.n_envs`` accounts (vectorised tensors; on a GPU thousands of accounts step at once).
With ``W`` workers, TorchRL's ``MultiSyncCollector`` starts ``W`` processes; each calls one of
the picklable factories returned here and steps its own batched env of ``n_envs // W`` accounts
(with the ``PortfolioRiskTransform``), and the collector concatenates the workers' rollouts
along the env axis, so the learner sees the same ``[n_envs, T]`` batch as in one process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torchrl.envs import EnvBase

from mtquant.config import RunConfig
from mtquant.errors import ConfigError
from mtquant.features.feature_set import FeatureSet

# make_env(cfg, features, split, batch_size=..., device=..., seed=..., **env_kwargs) -> env
EnvFactory = Callable[..., EnvBase]


def worker_env_factories(
    make_env: EnvFactory,
    cfg: RunConfig,
    features: FeatureSet,
    split: tuple[int, int],
    seed: int,
) -> list[Callable[[], Any]]:
    """One factory per collector worker, each building ``n_envs // W`` accounts on ``env_device``.

    The factories are ``functools.partial`` objects of the module-level ``make_env``, so they
    pickle into spawned workers; the collector reseeds every worker per rollout (``set_seed``).
    """
    hw = cfg.hardware
    if hw.collector_workers < 1:
        raise ConfigError(
            f"config hardware.collector_workers={hw.collector_workers}: worker envs need >= 1 "
            "worker (0 collects in this process)"
        )
    per_worker = max(1, hw.n_envs // hw.collector_workers)
    make = functools.partial(
        make_env, cfg, features, split, batch_size=per_worker, device=hw.env_device, seed=seed
    )
    return [make] * hw.collector_workers
