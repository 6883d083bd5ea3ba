"""Phase 2: the specialists are frozen; the meta-controller learns allocation and appetite.

Only the meta level is optimised, on the portfolio reward ``reward[..., 0]`` (risk-adjusted
log return, drawdown penalty, diversification bonus; see docs/training-pipeline.md). The frozen
specialists still sample their directions, so the environment sees the policy they were trained
as. Run alone with ``python scripts/train.py training.phases=[phase2] hydra.run.dir=RUN`` (it
loads the phase-1 exports of the run directory).
"""

from __future__ import annotations

from mtquant.agents.training.stage import GroupSpec, Stage

PHASE2 = Stage(
    name="phase2",
    network="hierarchy",
    groups=(GroupSpec("meta", "learning_rate", "meta_update_freq"),),
    fixed_allocation=False,
    seed_scale=3,
    seed_offset=1,
    summary="meta-controller on the portfolio reward; specialists frozen",
)
