"""The single-agent baseline stage: ``FlatPPOPolicy`` trained by the same PPO core and feed.

The plan's "Sprint 2 single agent" is one network over all N instruments. It trades through the
same env, costs, sizing and risk transform as the hierarchy, and learns on the portfolio reward
``reward[..., 0]`` (the reward phase 2 gives the meta-controller), with one value head.

The PPO core works on levels (0 = the portfolio level, ``1 + s`` = specialist ``s``), each with its
own log-prob, value and advantage. :class:`SingleAgentView` shows the flat network to the core as a
hierarchy of one level: ``("log_prob", "meta")`` is the joint log-prob of its N directions (their
sum), ``("entropy", "meta")`` the summed entropy, ``value [*, 1]`` its value, and the specialist
levels are empty (``[*, 0]``, ``names = []``). The feed computes GAE over ``reward[..., :1]`` and
the stage :data:`SINGLE_AGENT_STAGE` optimises the one group (``"meta"`` = level 0). Nothing else
differs from the phases: the collector, GAE, clipped loss, checkpoints and resume are theirs.
Run alone with ``python scripts/train.py training.phases=[single_agent]``.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase, TensorDictSequential
from torch import nn

from mtquant.agents.baselines import FlatPPOPolicy, build_flat_policy
from mtquant.agents.sizing import SizingModule
from mtquant.agents.training.stage import GroupSpec, Stage
from mtquant.config.store import RunConfig
from mtquant.config.training import SINGLE_AGENT
from mtquant.features.feature_set import FeatureSet
from mtquant.features.layout import PortfolioStateLayout
from mtquant.instruments import InstrumentUniverse

SINGLE_AGENT_STAGE = Stage(
    name=SINGLE_AGENT,
    network="single_agent",
    groups=(GroupSpec("meta", "learning_rate"),),
    fixed_allocation=True,  # the flat policy always writes allocation 1/S and appetite 1
    seed_scale=1,
    seed_offset=2**30,
    summary="the flat single-agent PPO baseline on the portfolio reward",
)


def single_agent_dims(cfg: RunConfig, features: FeatureSet) -> dict[str, int]:
    """Widths of the flat network for the run's instruments and features (``FlatPPOPolicy.dims``).

    ``N x observation`` + each specialist's market features (from the data the env publishes)
    + the portfolio state layout.
    """
    universe = InstrumentUniverse.from_config(cfg.instruments)
    return {
        "hidden_dim": cfg.training.single_agent.hidden_dim,
        "state_dim": PortfolioStateLayout(universe.n, len(universe.specialists)).dim,
        "observation_dim": int(features.obs.shape[-1]),
        **{
            f"{s}.market_features_dim": int(features.market[s].shape[-1])
            for s in universe.specialists
        },
    }


def single_agent_view(cfg: RunConfig, features: FeatureSet, seed: int) -> SingleAgentView:
    """A fresh flat network for the run, initialised from ``seed``, wrapped for the PPO core.

    The seed makes the initial weights independent of how much of the global RNG earlier phases
    used (a resumed run, or one whose phases were skipped, builds the same network); the global
    RNG is left as it was.
    """
    universe = InstrumentUniverse.from_config(cfg.instruments)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_flat_policy(
            single_agent_dims(cfg, features),
            universe.symbols,
            universe.specialist_index(),
            cfg.agents.position_mode,
        )
    return SingleAgentView(net)


class SingleAgentView(TensorDictModuleBase):
    """``FlatPPOPolicy`` as a one-level hierarchy for the PPO core (see the module docstring)."""

    fixed_allocation = True  # the flat policy always writes allocation 1/S and appetite 1

    def __init__(self, net: FlatPPOPolicy) -> None:
        super().__init__()
        self.net = net
        self.names: list[str] = []  # no specialist levels: the PPO core sees level 0 only
        self.in_keys = list(net.in_keys)
        self.out_keys = list(net.out_keys)

    @staticmethod
    def _one_level(td: TensorDictBase) -> TensorDictBase:
        """Move the per-specialist log-probs and entropies into level 0 (their sums)."""
        logp = td.get(("log_prob", "specialists"))  # [*, S]
        ent = td.get(("entropy", "specialists"))
        empty = logp.new_zeros(*logp.shape[:-1], 0)
        td.set(("log_prob", "meta"), logp.sum(-1))
        td.set(("entropy", "meta"), ent.sum(-1))
        td.set(("log_prob", "specialists"), empty)
        td.set(("entropy", "specialists"), empty.clone())
        return td

    def forward(self, td: TensorDictBase, deterministic: bool | None = None) -> TensorDictBase:
        """Act like the flat policy, writing the joint log-prob as level 0."""
        return self._one_level(self.net(td, deterministic=deterministic))

    def evaluate_actions(self, td: TensorDictBase) -> TensorDictBase:
        """Level-0 log-prob, entropy and value ``[*, 1]`` of the stored directions."""
        return self._one_level(self.net.evaluate_actions(td))

    def values(self, td: TensorDictBase) -> torch.Tensor:
        """State value ``[*, 1]`` (the GAE bootstrap of ``reward[..., 0]``)."""
        return self.net.values(td)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Optimiser groups for the PPO module: the whole network is level 0."""
        return {"meta": list(self.net.parameters()), "specialists": []}

    def set_trainable(self, meta: bool = True, specialists: bool = True) -> None:
        """Freeze or free the network (level 0); there is no specialist level."""
        self.net.requires_grad_(meta)

    def with_sizing(
        self, target_vol: float, max_weight: float = float("inf")
    ) -> TensorDictSequential:
        """``Seq(self, SizingModule)``: the collector's policy, writing ``target_weights``."""
        return TensorDictSequential(
            self, SizingModule(self.net.specialist_index, target_vol, max_weight)
        )
