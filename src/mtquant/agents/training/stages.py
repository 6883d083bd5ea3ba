"""The training table: every stage in the order ``scripts/train.py`` runs them.

======================  ============  =====================  ================  ===================
stage                   network       trains (optimisers)    allocation        seed
======================  ============  =====================  ================  ===================
``phase1``              hierarchy     specialists            fixed, equal      ``3 seed``
``phase2``              hierarchy     meta                   learned           ``3 seed + 1``
``phase3``              hierarchy     meta + specialists     learned           ``3 seed + 2``
``single_agent``        flat PPO      the whole network      fixed (no meta)   ``2**30 + seed``
======================  ============  =====================  ================  ===================

``training.phases`` picks rows; ``training.<stage>`` holds each row's schedule. The single
agent's seed range is one no phase of another run seed reaches (for seeds below 2**29).
"""

from __future__ import annotations

from mtquant.agents.training.phase1_train_specialists import PHASE1
from mtquant.agents.training.phase2_train_meta import PHASE2
from mtquant.agents.training.phase3_joint_training import PHASE3
from mtquant.agents.training.single_agent import SINGLE_AGENT_STAGE
from mtquant.agents.training.stage import Stage
from mtquant.config.training import STAGES as STAGE_NAMES
from mtquant.errors import ConfigError

STAGES: dict[str, Stage] = {s.name: s for s in (PHASE1, PHASE2, PHASE3, SINGLE_AGENT_STAGE)}
if tuple(STAGES) != STAGE_NAMES:  # the config's vocabulary and order (training.phases)
    raise ConfigError(f"stage table {list(STAGES)} differs from training.phases' {STAGE_NAMES}")


def stage(name: str) -> Stage:
    """The row called ``name`` (a :class:`ConfigError` naming the known ones otherwise)."""
    try:
        return STAGES[name]
    except KeyError:
        raise ConfigError(f"unknown training stage {name!r}; known: {list(STAGES)}") from None
