"""Phase 2: the specialists are frozen; the meta-controller learns allocation and appetite.

Only the meta level is optimised, on the portfolio reward ``reward[..., 0]`` (risk-adjusted
log return, drawdown penalty, diversification bonus; see docs/training-pipeline.md). Run alone
with ``python -m mtquant.agents.training.phase2_train_meta [hydra overrides]`` (it loads the
phase-1 exports of the run directory).
"""

from __future__ import annotations

import sys

from mtquant.agents.training.ppo_module import GroupSchedule, HierarchicalPPOModule
from mtquant.config.training import PhaseConfig


class Phase2MetaModule(HierarchicalPPOModule):
    """PPO over the meta level only; specialist parameters have ``requires_grad=False``."""

    phase = "phase2"
    fixed_allocation = False

    @staticmethod
    def group_schedules(cfg: PhaseConfig) -> dict[str, GroupSchedule]:
        return {"meta": GroupSchedule(cfg.learning_rate, cfg.meta_update_freq)}


def main(argv: list[str] | None = None) -> float:
    """Entry point: phase 2 only, with Hydra-style overrides from the command line."""
    from mtquant.agents.training.pipeline import run_phase_cli

    return run_phase_cli("phase2", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
