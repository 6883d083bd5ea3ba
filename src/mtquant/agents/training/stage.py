"""``Stage``: one row of the training table — what trains, how it is seeded, and its optimisers.

The table itself is :data:`mtquant.agents.training.stages.STAGES`; each row is defined in the
plan's file for it (``phase1_train_specialists.py``, ``phase2_train_meta.py``,
``phase3_joint_training.py``) or in ``single_agent.py``. One LightningModule
(:class:`~mtquant.agents.training.ppo_module.PPOModule`) and one runner
(:func:`~mtquant.agents.training.phase_runner.fit_stage`) serve every row.

The PPO core works on reward levels: ``0`` is the portfolio reward (meta-controller, or the flat
single agent), ``1 + s`` specialist ``s``'s own reward. A group's optimiser steps the levels it
owns; the levels of groups a stage does not train are masked out of the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtquant.config.training import PhaseConfig

GROUPS = ("meta", "specialists")  # parameter groups: reward level 0, levels 1..S
NETWORKS = ("hierarchy", "single_agent")


@dataclass(frozen=True)
class GroupSchedule:
    """Optimiser settings of one parameter group (``meta`` or ``specialists``)."""

    learning_rate: float
    update_freq: int = 1  # step this group every k rollouts


@dataclass(frozen=True)
class GroupSpec:
    """Which fields of the stage's ``training.<stage>`` config drive one group's optimiser."""

    group: str  # "meta" | "specialists"
    learning_rate: str  # PhaseConfig field of the learning rate
    update_freq: str | None = (
        None  # PhaseConfig field of the update frequency (None: every rollout)
    )


@dataclass(frozen=True)
class Stage:
    """A training stage (a row of the table; module doc).

    ``seed(run_seed) = seed_scale * run_seed + seed_offset`` gives every (run seed, stage) its
    own reproducible seed; ``fixed_allocation`` feeds the specialists the equal allocation at
    appetite 1 (phase 1, and the flat agent, which has no meta level).
    """

    name: str  # a value of training.phases; its config is training.<name>
    network: str  # "hierarchy" | "single_agent": the network the stage trains
    groups: tuple[GroupSpec, ...]  # trained parameter groups; the others are frozen
    fixed_allocation: bool
    seed_scale: int
    seed_offset: int
    summary: str  # one line for docs and logs

    def seed(self, run_seed: int) -> int:
        return self.seed_scale * int(run_seed) + self.seed_offset

    def schedules(self, cfg: PhaseConfig) -> dict[str, GroupSchedule]:
        """``group -> GroupSchedule`` from the stage's ``training.<name>`` config, in GROUPS order."""
        specs = {g.group: g for g in self.groups}
        return {
            name: GroupSchedule(
                float(getattr(cfg, spec.learning_rate)),
                1 if spec.update_freq is None else int(getattr(cfg, spec.update_freq)),
            )
            for name in GROUPS
            if (spec := specs.get(name)) is not None
        }
