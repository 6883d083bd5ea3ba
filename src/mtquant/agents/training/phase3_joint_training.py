"""Phase 3: joint fine-tuning of meta-controller and specialists, with a curriculum.

Two optimisers at their own learning rates (``learning_rate`` for the specialists,
``meta_learning_rate`` for the meta-controller) step at their own frequencies: the meta every
``meta_update_freq`` rollouts, the specialists every ``specialist_update_freq`` rollouts. On a
rollout where a group does not step, its levels are masked out of the loss. The curriculum
(:mod:`mtquant.agents.training.curriculum`) moves from calm periods and low costs to all periods
and full costs as frames are collected. Run alone with
``python -m mtquant.agents.training.phase3_joint_training [hydra overrides]``.
"""

from __future__ import annotations

import sys

from mtquant.agents.training.ppo_module import GroupSchedule, HierarchicalPPOModule
from mtquant.config.training import PhaseConfig


class Phase3JointModule(HierarchicalPPOModule):
    """PPO over all levels with separate optimisers and update frequencies."""

    phase = "phase3"
    fixed_allocation = False

    @staticmethod
    def group_schedules(cfg: PhaseConfig) -> dict[str, GroupSchedule]:
        return {
            "meta": GroupSchedule(cfg.meta_learning_rate, cfg.meta_update_freq),
            "specialists": GroupSchedule(cfg.learning_rate, cfg.specialist_update_freq),
        }

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        curriculum = self.feed.before_rollout
        stage = getattr(curriculum, "current", None)
        if stage is not None:
            self.log_dict(
                {
                    "curriculum/stage": float(stage),
                    "curriculum/cost_multiplier": float(curriculum.cost_multiplier),  # type: ignore[union-attr]
                },
                on_step=False,
                on_epoch=True,
                batch_size=1,
                sync_dist=True,
            )


def main(argv: list[str] | None = None) -> float:
    """Entry point: phase 3 only, with Hydra-style overrides from the command line."""
    from mtquant.agents.training.pipeline import run_phase_cli

    return run_phase_cli("phase3", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
