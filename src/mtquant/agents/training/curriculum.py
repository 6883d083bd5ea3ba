"""Phase-3 curriculum: easy to hard by trading costs and by the calm of the episode start days.

A stage (``training.phase3.curriculum[*]``) holds for its ``fraction`` of the phase's frames and
sets two things on the training env before each rollout:

* ``cost_multiplier`` — every cost (spread, commission, slippage, swap) of the execution kernel
  is scaled by it, on top of ``env.cost_multiplier`` (``KernelParams.cost_multiplier``);
* ``max_volatility_quantile`` — episodes start only on days whose market volatility (the
  cross-sectional mean of the instruments' daily volatility estimates ``features.vol``) is at
  most that quantile of the training split's market volatility (1.0 = every day).

The env draws uniform start rows from its split; :class:`StartPool` narrows the draw to a set of
rows by wrapping the env's start-row draw (a documented hook until the env exposes one).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from mtquant.config.training import CurriculumStage


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


class StartPool:
    """Restricts an env's random episode starts to a pool of rows (``None`` = the whole split).

    Installs itself as the env's ``_draw_start_rows``; a draw picks uniformly from the pool with
    the env's own seeded generator, so seeding the env still fixes the starts.
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.rows: torch.Tensor | None = None
        self._draw_all = env._draw_start_rows
        env._draw_start_rows = self.draw

    def draw(self) -> torch.Tensor:
        if self.rows is None or self.env._start_rows is not None:
            return self._draw_all()
        pick = torch.randint(
            len(self.rows), self.env.batch_size, generator=self.env._rng, device=self.env.device
        )
        return self.rows.to(self.env.device)[pick]


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
        self.base = getattr(env, "base_env", env)
        self.base_cost_multiplier = base_cost_multiplier  # env.cost_multiplier of the config
        self.stages = stages
        self.total_frames = total_frames
        self.frames_per_rollout = frames_per_rollout
        self.pool = StartPool(self.base)
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
        self.base.params = replace(
            self.base.params, cost_multiplier=self.base_cost_multiplier * stage.cost_multiplier
        )
        self.pool.rows = self.pools[index]
        self.current = index
