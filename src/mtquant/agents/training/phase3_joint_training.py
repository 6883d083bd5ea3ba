"""Phase 3: joint fine-tuning of meta-controller and specialists, with a curriculum.

Two optimisers at their own learning rates (``learning_rate`` for the specialists,
``meta_learning_rate`` for the meta-controller) step at their own frequencies: the meta every
``meta_update_freq`` rollouts, the specialists every ``specialist_update_freq`` rollouts. On a
rollout where a group does not step, its levels are masked out of the loss. The curriculum of
``training.phase3.curriculum`` (:mod:`mtquant.agents.training.curriculum`) moves from calm
periods and low costs to all periods and full costs as frames are collected. Run alone with
``python scripts/train.py training.phases=[phase3] hydra.run.dir=RUN``.
"""

from __future__ import annotations

from mtquant.agents.training.stage import GroupSpec, Stage

PHASE3 = Stage(
    name="phase3",
    network="hierarchy",
    groups=(
        GroupSpec("meta", "meta_learning_rate", "meta_update_freq"),
        GroupSpec("specialists", "learning_rate", "specialist_update_freq"),
    ),
    fixed_allocation=False,
    seed_scale=3,
    seed_offset=2,
    summary="meta-controller and specialists jointly, own learning rates and frequencies",
)
