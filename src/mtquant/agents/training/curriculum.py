"""Phase-3 curriculum: easy to hard by trading costs and by the calm of the episode start days.

A stage (``training.phase3.curriculum[*]``) holds for its ``fraction`` of the phase's frames and
sets two things on the training env before each rollout:

* ``cost_multiplier`` — every cost (spread, commission, slippage, swap) of the execution kernel
  is scaled by it, on top of ``env.cost_multiplier`` (``KernelParams.cost_multiplier``);
* ``max_volatility_quantile`` — episodes start only on days whose market volatility (the
  cross-sectional mean of the instruments' daily volatility estimates ``features.vol``) is at
  most that quantile of the training split's market volatility (1.0 = every day).

The curriculum acts through the env's public hooks only: ``set_cost_multiplier(x)`` and
``set_start_pool(rows | None)`` (:class:`~mtquant.agents.environments.MultiInstrumentEnv`; the toy
env of :mod:`mtquant.testing.toy` has the same two), so any env with them can be driven.
With a multi-process collector, :class:`WorkerEnvHooks` forwards the same two calls to every
worker's env through TorchRL's ``map_fn`` (the workers sit idle between rollouts, so a stage
switched before a rollout is in force for all of it).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from mtquant.config.training import CurriculumStage


class CurriculumEnv(Protocol):
    """What the curriculum needs from an env: its start range and the two schedule hooks."""

    first_row: int
    last_start: int

    def set_cost_multiplier(self, x: float) -> None: ...

    def set_start_pool(self, rows: torch.Tensor | None) -> None: ...


def stage_at(stages: list[CurriculumStage], frames_done: int, total_frames: int) -> int:
    """Index of the stage in force after ``frames_done`` of ``total_frames`` frames."""
    bound = 0.0
    for i, stage in enumerate(stages):
        bound += stage.fraction * total_frames
        if frames_done < bound - 1e-9:
            return i
    return len(stages) - 1


def market_volatility(vol: torch.Tensor) -> torch.Tensor:
    """Market volatility per day ``[T]``: the mean of the instruments' daily volatilities ``[T, N]``."""
    return vol.double().mean(-1)


def calm_start_rows(
    vol: torch.Tensor, first_row: int, last_start: int, quantile: float
) -> torch.Tensor | None:
    """Start rows in ``[first_row, last_start]`` whose market volatility <= its ``quantile``.

    Returns ``None`` (no restriction) for ``quantile >= 1``. The quantile is taken over the same
    rows (the training split), so only training data decides which days count as calm.
    """
    if quantile >= 1.0:
        return None
    mvol = market_volatility(vol[first_row : last_start + 1])
    threshold = torch.quantile(mvol, quantile)
    return torch.nonzero(mvol <= threshold).squeeze(-1) + first_row


class WorkerEnvHooks:
    """The curriculum hooks of every worker env of a TorchRL multi-process collector.

    Each worker's collector holds a ``TransformedEnv`` whose ``base_env`` is the
    ``MultiInstrumentEnv``; ``map_fn("env.base_env.<hook>", ...)`` runs the hook in every worker.
    """

    def __init__(self, collector: Any) -> None:
        self.collector = collector
        self.n_workers = int(collector.num_workers)
        self.first_row = int(collector.get_distant_attr("env.base_env.first_row")[0])
        self.last_start = int(collector.get_distant_attr("env.base_env.last_start")[0])

    def _call(self, hook: str, value: object) -> None:
        self.collector.map_fn(f"env.base_env.{hook}", [(value,)] * self.n_workers)

    def set_cost_multiplier(self, x: float) -> None:
        self._call("set_cost_multiplier", float(x))

    def set_start_pool(self, rows: torch.Tensor | None) -> None:
        self._call("set_start_pool", rows)


class Curriculum:
    """Switches the env's costs and start pool to the stage in force before each rollout."""

    def __init__(
        self,
        env: Any,
        stages: list[CurriculumStage],
        total_frames: int,
        frames_per_rollout: int,
        vol: torch.Tensor,
        base_cost_multiplier: float = 1.0,
    ) -> None:
        self.base: CurriculumEnv = getattr(env, "base_env", env)  # under TransformedEnv
        self.base_cost_multiplier = base_cost_multiplier  # env.cost_multiplier of the config
        self.stages = stages
        self.total_frames = total_frames
        self.frames_per_rollout = frames_per_rollout
        self.cost_multiplier = base_cost_multiplier  # in force now (logged by phase 3)
        self.pools = [
            calm_start_rows(
                vol, self.base.first_row, self.base.last_start, s.max_volatility_quantile
            )
            for s in stages
        ]
        self.current = -1

    def __call__(self, rollout: int) -> None:
        index = stage_at(self.stages, rollout * self.frames_per_rollout, self.total_frames)
        if index == self.current:
            return
        stage = self.stages[index]
        self.cost_multiplier = self.base_cost_multiplier * stage.cost_multiplier
        self.base.set_cost_multiplier(self.cost_multiplier)
        self.base.set_start_pool(self.pools[index])
        self.current = index
