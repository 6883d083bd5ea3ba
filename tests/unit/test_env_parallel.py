"""worker_env_factories: what a multi-process collector's workers build."""

from __future__ import annotations

import pickle

import pytest
import torch
from torchrl.envs import TransformedEnv

from mtquant.agents.environments import make_env
from mtquant.agents.environments.parallel_env_wrapper import worker_env_factories
from mtquant.config import compose_config, to_object
from mtquant.errors import ConfigError
from mtquant.instruments import InstrumentUniverse
from mtquant.testing.random_walk import random_walk_features


def test_each_worker_builds_its_share_of_the_accounts_with_the_risk_transform() -> None:
    cfg = to_object(compose_config("train", ["hardware.n_envs=6", "hardware.collector_workers=2"]))
    f = random_walk_features(InstrumentUniverse.from_config(cfg.instruments), n_days=120)
    factories = worker_env_factories(make_env, cfg, f, (0, 120), seed=3)
    assert len(factories) == 2
    env = pickle.loads(pickle.dumps(factories[0]))()  # what a spawned worker receives
    assert isinstance(env, TransformedEnv) and env.batch_size == torch.Size([3])
    assert ("risk", "scale") in env.observation_spec.keys(True)


def test_worker_factories_need_at_least_one_worker() -> None:
    cfg = to_object(compose_config("train", ["hardware.n_envs=6"]))
    f = random_walk_features(InstrumentUniverse.from_config(cfg.instruments), n_days=120)
    with pytest.raises(ConfigError, match="collector_workers=0"):
        worker_env_factories(make_env, cfg, f, (0, 120), seed=0)
