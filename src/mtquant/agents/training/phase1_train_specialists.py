"""Phase 1: the specialists learn with a fixed, equal allocation, each on its own reward.

The meta-controller does not act (equal allocation, full appetite, zero log-prob) and is not
optimised; each specialist's probability ratio is paired with the advantage of its own reward
(``reward[..., 1 + s]``). Run alone with ``python scripts/train.py training.phases=[phase1]``.
"""

from __future__ import annotations

from mtquant.agents.training.stage import GroupSpec, Stage

PHASE1 = Stage(
    name="phase1",
    network="hierarchy",
    groups=(GroupSpec("specialists", "learning_rate", "specialist_update_freq"),),
    fixed_allocation=True,
    seed_scale=3,
    seed_offset=0,
    summary="specialists on their own rewards; allocation fixed and equal",
)
