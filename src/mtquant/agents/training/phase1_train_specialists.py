"""Phase 1: the specialists learn with a fixed, equal allocation, each on its own reward.

The meta-controller does not act (equal allocation, full appetite, zero log-prob) and is not
optimised; each specialist's probability ratio is paired with the advantage of its own reward
(``reward[..., 1 + s]``). Run alone with
``python -m mtquant.agents.training.phase1_train_specialists [hydra overrides]``.
"""

from __future__ import annotations

import sys

from mtquant.agents.training.ppo_module import GroupSchedule, HierarchicalPPOModule
from mtquant.config.training import PhaseConfig


class Phase1SpecialistsModule(HierarchicalPPOModule):
    """PPO over the specialist levels only; the allocation is fixed and equal."""

    phase = "phase1"
    fixed_allocation = True

    @staticmethod
    def group_schedules(cfg: PhaseConfig) -> dict[str, GroupSchedule]:
        return {"specialists": GroupSchedule(cfg.learning_rate, cfg.specialist_update_freq)}


def main(argv: list[str] | None = None) -> float:
    """Entry point: phase 1 only, with Hydra-style overrides from the command line."""
    from mtquant.agents.training.pipeline import run_phase_cli

    return run_phase_cli("phase1", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
