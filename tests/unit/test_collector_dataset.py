"""The rollout feed: minibatch counts and shapes, GAE keys, deterministic replay by rollout index."""

from __future__ import annotations

import torch
from torchrl.collectors import Collector

from mtquant.agents.training.collector_dataset import (
    RolloutMinibatches,
    make_dataloader,
    policy_values,
)
from mtquant.testing.toy import ToyHierarchicalPolicy, ToyMarketEnv

GROUPS = {"forex": 3, "commodities": 2, "equity": 3}


def _feed(
    frames: int = 64, minibatch: int = 16, epochs: int = 2, seed: int = 3
) -> RolloutMinibatches:
    env = ToyMarketEnv(GROUPS, batch_size=4, episode_length=10)
    policy = ToyHierarchicalPolicy(GROUPS)
    collector = Collector(
        env,
        policy,
        frames_per_batch=frames,
        total_frames=-1,
        reset_at_each_iter=True,
        auto_register_policy_transforms=False,
        trust_policy=True,
    )
    return RolloutMinibatches(
        collector, policy_values(policy), list(GROUPS), 0.99, 0.95, epochs, minibatch, seed
    )


def test_one_pass_yields_epochs_times_minibatches_of_the_expected_shapes():
    feed = _feed(frames=64, minibatch=16, epochs=3)
    batches = list(make_dataloader(feed))
    assert len(batches) == 3 * (64 // 16)
    mb = batches[0]
    assert mb.batch_size == torch.Size([16])
    assert mb["advantages"].shape == (16, 4) and mb["returns"].shape == (16, 4)
    assert mb["value"].shape == (16, 4)
    assert mb["log_prob", "specialists"].shape == (16, 3)
    assert mb["instrument_obs"].shape == (16, 8, 50)
    assert "next" not in mb
    assert feed.state.rollouts == 1 and feed.state.frames == 64


def test_each_epoch_is_a_permutation_of_the_rollout():
    feed = _feed(frames=64, minibatch=16, epochs=2)
    batches = list(make_dataloader(feed))
    first = torch.cat([b["returns"] for b in batches[:4]])
    second = torch.cat([b["returns"] for b in batches[4:]])
    torch.testing.assert_close(first.sort(0).values, second.sort(0).values)


def test_rollout_stats_report_rewards_per_level_and_allocations():
    feed = _feed()
    list(make_dataloader(feed))
    stats = feed.state.stats
    for key in ("reward/meta", "reward/forex", "allocation/equity", "explained_variance/meta"):
        assert key in stats
    assert abs(sum(stats[f"allocation/{n}"] for n in GROUPS) - 1.0) < 1e-4


def test_resumed_feed_replays_the_same_rollout():
    feed = _feed()
    loader = make_dataloader(feed)
    list(loader)
    state = feed.state_dict()
    second = [b["advantages"] for b in loader]
    feed.load_state_dict(state)
    replay = [b["advantages"] for b in loader]
    for a, b in zip(second, replay, strict=True):
        torch.testing.assert_close(a, b)
