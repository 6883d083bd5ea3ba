"""Build the training environment for the ``hardware`` config.

* ``hardware.collector_workers == 0`` (default): one :class:`MultiInstrumentEnv` batching
  ``hardware.n_envs`` accounts in this process on ``hardware.env_device`` (vectorised tensors;
  on a GPU thousands of accounts step at once).
* ``hardware.collector_workers = W > 0``: TorchRL ``ParallelEnv`` over ``W`` worker processes,
  each building its own batched env of ``ceil(n_envs / W)`` accounts from a picklable factory
  (seeds ``seed + k`` per worker). Every worker env carries the ``PortfolioRiskTransform``.
"""

from __future__ import annotations

import functools
import math

from torchrl.envs import EnvBase, ParallelEnv

from mtquant.agents.environments.multi_instrument_env import make_env
from mtquant.config import RunConfig
from mtquant.features.feature_set import FeatureSet


def _worker_env(
    cfg: RunConfig, features: FeatureSet, split: tuple[int, int], batch_size: int, seed: int
) -> EnvBase:
    """Module-level factory (picklable through ``functools.partial``) for one worker."""
    return make_env(cfg, features, split, batch_size=batch_size, seed=seed)


def build_env(cfg: RunConfig, features: FeatureSet, split: tuple[int, int]) -> EnvBase:
    """The environment for ``cfg.hardware`` (module doc)."""
    hw = cfg.hardware
    if hw.collector_workers == 0:
        return make_env(cfg, features, split)
    workers = hw.collector_workers
    per_worker = math.ceil(hw.n_envs / workers)
    factories = [
        functools.partial(_worker_env, cfg, features, split, per_worker, cfg.seed + k)
        for k in range(workers)
    ]
    return ParallelEnv(workers, factories, device=hw.env_device, mp_start_method="spawn")
