"""build_env: batched in one process by default, TorchRL ParallelEnv when workers are asked."""

from __future__ import annotations

import pytest
import torch
from torchrl.envs import ParallelEnv, TransformedEnv

from mtquant.agents.environments.parallel_env_wrapper import build_env
from mtquant.agents.environments.synthetic_features import random_walk_features
from mtquant.config import compose_config, to_object
from mtquant.instruments import InstrumentUniverse


def test_default_hardware_builds_one_batched_env_with_the_risk_transform() -> None:
    cfg = to_object(compose_config("train", ["hardware.n_envs=6"]))
    f = random_walk_features(InstrumentUniverse.from_config(cfg.instruments), n_days=120)
    env = build_env(cfg, f, (0, 120))
    assert isinstance(env, TransformedEnv) and env.batch_size == torch.Size([6])
    assert ("risk", "scale") in env.observation_spec.keys(True)


@pytest.mark.slow
def test_collector_workers_build_a_parallel_env_of_batched_workers() -> None:
    cfg = to_object(compose_config("train", ["hardware.n_envs=4", "hardware.collector_workers=2"]))
    f = random_walk_features(InstrumentUniverse.from_config(cfg.instruments), n_days=120)
    env = build_env(cfg, f, (0, 120))
    try:
        assert isinstance(env, ParallelEnv)
        ro = env.rollout(3, break_when_any_done=False)
        assert ro["next", "info", "equity"].shape == (2, 2, 3)
        assert ro["next", "risk", "scale"].shape == (2, 2, 3)
    finally:
        env.close()
