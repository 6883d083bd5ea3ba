"""The collector feed: an ``IterableDataset`` that turns TorchRL rollouts into PPO minibatches.

One pass over the dataset (one Lightning epoch) is one PPO iteration, in CleanRL's order:
sync the policy weights to the collector, collect ``frames_per_batch`` transitions, compute
GAE for every level under ``no_grad``, then yield ``n_epochs`` x shuffled minibatches. Each
rollout is seeded from ``(seed, rollout index)`` — the env through ``collector.set_seed`` and
the policy's sampling through the torch generator — so that a run resumed from a checkpoint
(which stores the rollout index) replays exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torch.utils.data import DataLoader, IterableDataset
from torchrl.collectors import BaseCollector, Collector

from mtquant.agents.training.ppo_loss import compute_gae, explained_variance
from mtquant.risk_management.limits import BINDING_NAMES

# without an explicit key list, everything but these stays in the minibatches after GAE
_DROP = ("next", "collector")
# what the PPO update reads besides the policy's observation keys (see learner_keys)
LEARNER_KEYS: tuple[str | tuple[str, ...], ...] = (
    ("action", "allocation"),
    ("action", "appetite"),
    ("action", "direction"),
    ("log_prob", "meta"),
    ("log_prob", "specialists"),
    "value",
    "advantages",
    "returns",
)


def learner_keys(policy: Any) -> list[str | tuple[str, ...]]:
    """Keys a minibatch needs: the policy's ``in_keys`` (for ``evaluate_actions``) + LEARNER_KEYS.

    Gathering only these (not the env's info/risk records, covariances, ...) keeps the per-minibatch
    copy small.
    """
    keys = [k if isinstance(k, str) else tuple(k) for k in policy.in_keys]
    return list(dict.fromkeys([*keys, *LEARNER_KEYS]))


@dataclass
class RolloutState:
    """What a checkpoint stores about the feed: rollouts and frames done so far."""

    rollouts: int = 0
    frames: int = 0
    stats: dict[str, float] = field(default_factory=dict)


def rollout_seed(seed: int, rollout: int, rank: int = 0) -> int:
    """Seed of rollout ``rollout`` of a run seeded ``seed`` (a fixed, documented mix).

    ``rank`` is the data-parallel (DDP) rank: each rank collects its own episodes; rank 0 has the
    seeds of a single-process run.
    """
    return (int(seed) * 1_000_003 + int(rollout) * 7919 + int(rank) * 104_729) % (2**31 - 1)


def rollout_stats(rollout: TensorDictBase, names: list[str]) -> dict[str, float]:
    """Per-rollout diagnostics: rewards per level, mean allocations and the risk transform's figures.

    ``names`` are the specialists in level order. Risk keys are read from ``("next", "risk", ..)``
    when the env writes them: mean proposed and executed VaR, the mean scale, and the share of
    steps on which each limit bound (``risk/binds_<limit>`` from ``binding_flags``).
    """
    stats: dict[str, float] = {}
    reward = rollout["next", "reward"].float()  # [B, T, 1+S]
    levels = ["meta", *names]
    for i, level in enumerate(levels):
        stats[f"reward/{level}"] = reward[..., i].mean().item()
    alloc = rollout.get(("action", "allocation"), None)
    if alloc is not None:
        for i, name in enumerate(names):
            stats[f"allocation/{name}"] = alloc[..., i].float().mean().item()
    appetite = rollout.get(("action", "appetite"), None)
    if appetite is not None:
        stats["allocation/appetite"] = appetite.float().mean().item()
    risk = rollout.get(("next", "risk"), None)
    if risk is not None:
        for key in ("proposed_var", "executed_var", "scale"):
            if key in risk:
                stats[f"risk/{key}"] = risk[key].float().mean().item()
        if "binding_flags" in risk:
            flags = risk["binding_flags"].long()
            for k, name in enumerate(BINDING_NAMES[1:]):
                stats[f"risk/binds_{name}"] = ((flags >> k) & 1).float().mean().item()
            stats["risk/binds_any"] = (flags > 0).float().mean().item()
    done = rollout["next", "done"]
    stats["episodes_ended"] = float(done.sum().item())
    return stats


class RolloutMinibatches(IterableDataset[TensorDictBase]):
    """Yields PPO minibatches (flat ``TensorDict`` of ``minibatch_size`` transitions) of one rollout.

    ``value_fn(td) -> [.., 1+S]`` gives state values for the bootstrap of ``("next", ...)``;
    ``before_rollout(index)`` is called before each collection (curriculum stage switches);
    ``policy`` (if given) is put in eval mode for the collection, whatever Lightning's hooks did.
    Each minibatch holds the observations, actions, stored ``("log_prob", ..)``, ``value`` and
    the GAE ``advantages`` / ``returns`` ``[M, 1+S]``; ``keys`` (e.g. :func:`learner_keys`)
    restricts it to those keys (default: every key outside ``"next"``). ``actor`` is the module
    the collector was built with; a multi-process collector gets its current weights before every
    rollout (an in-process collector shares the module itself). ``reward_levels = L`` restricts
    GAE to the first ``L`` reward levels, matching a policy whose ``value`` has ``L`` columns
    (the single agent: ``L = 1``, the portfolio reward); None uses all ``1 + S``.
    """

    def __init__(
        self,
        collector: BaseCollector,
        value_fn: Callable[[TensorDictBase], torch.Tensor],
        names: list[str],
        gamma: float,
        gae_lambda: float,
        n_epochs: int,
        minibatch_size: int,
        seed: int,
        before_rollout: Callable[[int], None] | None = None,
        policy: torch.nn.Module | None = None,
        keys: list[str | tuple[str, ...]] | None = None,
        actor: torch.nn.Module | None = None,
        reward_levels: int | None = None,
    ) -> None:
        super().__init__()
        self.reward_levels = reward_levels  # GAE over reward[..., :L] (None: every level)
        self.keys = keys
        self.actor = actor  # the collector's policy: its weights go to worker processes
        self.collector = collector
        self.value_fn = value_fn
        self.names = list(names)
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.n_epochs = n_epochs
        self.minibatch_size = minibatch_size
        self.seed = seed
        self.before_rollout = before_rollout
        self.policy = policy  # put in eval mode while collecting (no dropout noise in samples)
        self.state = RolloutState()
        self.rank = 0  # DDP rank, set by the module at fit start (seeds differ per rank)
        # seed inside the collector, right before its reset: a fresh collector (resumed run) and a
        # running one then start the rollout from the same RNG states
        self.in_process = isinstance(collector, Collector)
        if self.in_process:
            collector.pre_collect_hook = self._seed_rollout

    def _seed_rollout(self) -> None:
        seed = rollout_seed(self.seed, self.state.rollouts, self.rank)
        self.collector.set_seed(seed)
        torch.manual_seed(seed)

    def n_minibatches(self, frames: int) -> int:
        """Minibatches per epoch for a rollout of ``frames`` transitions (remainder dropped)."""
        return max(1, frames // self.minibatch_size)

    def collect(self) -> TensorDictBase:
        """Collect the next rollout ``[B, T]`` with its ``advantages`` and ``returns``."""
        index = self.state.rollouts
        if self.before_rollout is not None:
            self.before_rollout(index)
        if self.policy is not None:
            self.policy.eval()
        if self.in_process or self.actor is None:
            self.collector.update_policy_weights_()
        else:  # worker processes hold copies: push the learner's weights
            self.collector.update_policy_weights_(TensorDict.from_module(self.actor))
        if not self.in_process:  # worker processes: seed their envs and samplers from here
            self._seed_rollout()
        rollout = self.collector.next()  # [B, T]
        with torch.no_grad():
            next_value = self.value_fn(rollout["next"])  # [B, T, L]
            reward = rollout["next", "reward"]  # [B, T, 1+S]
            if self.reward_levels is not None:
                reward = reward[..., : self.reward_levels]
            advantages, returns = compute_gae(
                reward,
                rollout["value"],
                next_value.to(rollout["value"].dtype),
                rollout["next", "done"],
                rollout["next", "terminated"],
                self.gamma,
                self.gae_lambda,
            )
        rollout.set("advantages", advantages)
        rollout.set("returns", returns)
        stats = rollout_stats(rollout, self.names)
        ev = explained_variance(rollout["value"], returns)
        for level, value in zip(["meta", *self.names], ev.tolist(), strict=False):
            stats[f"explained_variance/{level}"] = value
        self.state = RolloutState(
            rollouts=index + 1, frames=self.state.frames + rollout.numel(), stats=stats
        )
        return rollout

    def minibatches(self, rollout: TensorDictBase) -> Iterator[TensorDictBase]:
        """``n_epochs`` passes of shuffled minibatches over the flattened rollout."""
        kept = rollout.exclude(*_DROP) if self.keys is None else rollout.select(*self.keys)
        flat = kept.reshape(-1)
        frames = flat.shape[0]
        size = min(self.minibatch_size, frames)
        n_mb = self.n_minibatches(frames)
        gen = torch.Generator().manual_seed(
            rollout_seed(self.seed, self.state.rollouts, self.rank) + 1
        )
        for _ in range(self.n_epochs):
            perm = torch.randperm(frames, generator=gen)
            for i in range(n_mb):
                yield flat[perm[i * size : (i + 1) * size]]

    def __iter__(self) -> Iterator[TensorDictBase]:
        yield from self.minibatches(self.collect())

    def state_dict(self) -> dict[str, object]:
        return {"rollouts": self.state.rollouts, "frames": self.state.frames}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.state = RolloutState(rollouts=int(state["rollouts"]), frames=int(state["frames"]))  # type: ignore[call-overload]


def policy_values(policy: Any) -> Callable[[TensorDictBase], torch.Tensor]:
    """``td -> value [.., 1+S]`` from the policy's deterministic pass (the GAE bootstrap).

    Uses the policy's ``values(td)`` when it has one (``HierarchicalPolicy``: the value heads only).
    """
    if callable(getattr(policy, "values", None)):
        return policy.values  # type: ignore[no-any-return]

    def values(td: TensorDictBase) -> torch.Tensor:
        value: torch.Tensor = policy(td.select(*policy.in_keys), deterministic=True)["value"]
        return value

    return values


def _keep_as_is(item: TensorDictBase) -> TensorDictBase:
    """DataLoader collate for ready-made minibatches (a TensorDict is not a plain mapping)."""
    return item


def make_dataloader(dataset: RolloutMinibatches) -> DataLoader[TensorDictBase]:
    """A DataLoader that hands each minibatch to Lightning unchanged (main process)."""
    return DataLoader(dataset, batch_size=None, collate_fn=_keep_as_is, num_workers=0)
