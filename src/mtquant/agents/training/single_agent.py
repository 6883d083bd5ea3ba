"""The single-agent baseline stage: ``FlatPPOPolicy`` trained by the same PPO core and feed.

The plan's "Sprint 2 single agent" is one network over all N instruments. It trades through the
same env, costs, sizing and risk transform as the hierarchy, and learns on the portfolio reward
``reward[..., 0]`` (the reward phase 2 gives the meta-controller), with one value head.

The PPO core works on levels (0 = the portfolio level, ``1 + s`` = specialist ``s``), each with its
own log-prob, value and advantage. :class:`SingleAgentView` shows the flat network to the core as a
hierarchy of one level: ``("log_prob", "meta")`` is the joint log-prob of its N directions (their
sum), ``("entropy", "meta")`` the summed entropy, ``value [*, 1]`` its value, and the specialist
levels are empty (``[*, 0]``, ``names = []``). The feed computes GAE over ``reward[..., :1]`` and
:class:`SingleAgentModule` optimises the one group (``"meta"`` = level 0). Nothing else differs
from the phases: the collector, GAE, clipped loss, checkpoints and resume are theirs.
Run alone with ``python -m mtquant.agents.training.single_agent [hydra overrides]``.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase, TensorDictSequential
from torch import nn

from mtquant.agents.baselines import FlatPPOPolicy
from mtquant.agents.sizing import SizingModule
from mtquant.agents.training.ppo_module import GroupSchedule, HierarchicalPPOModule
from mtquant.config.store import RunConfig
from mtquant.config.training import SINGLE_AGENT, PhaseConfig
from mtquant.features.layout import PortfolioStateLayout
from mtquant.instruments import InstrumentUniverse

SINGLE_AGENT_EXPORT = "single_agent_ppo.pt"  # read by evaluation.checkpoint_eval
SINGLE_AGENT_COMPONENT = "single_agent_ppo"  # export metadata "component"


def single_agent_dims(cfg: RunConfig, features: Any) -> dict[str, Any]:
    """Input widths of the flat network for the run's instruments and features.

    ``N x observation`` + each specialist's market features (from the data the env publishes)
    + the portfolio state layout.
    """
    universe = InstrumentUniverse.from_config(cfg.instruments)
    return {
        "n_instruments": universe.n,
        "market": {s: int(features.market[s].shape[-1]) for s in universe.specialists},
        "state_dim": PortfolioStateLayout(universe.n, len(universe.specialists)).dim,
        "obs_dim": int(features.obs.shape[-1]),
        "hidden_dim": cfg.training.single_agent.hidden_dim,
    }


def build_single_agent(cfg: RunConfig, features: Any, seed: int) -> FlatPPOPolicy:
    """A fresh ``FlatPPOPolicy`` for the run's instruments, initialised from ``seed``.

    The seed makes the initial weights independent of how much of the global RNG earlier phases
    used (a resumed run, or one whose phases were skipped, builds the same network).
    """
    dims = single_agent_dims(cfg, features)
    universe = InstrumentUniverse.from_config(cfg.instruments)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FlatPPOPolicy(
            dims["n_instruments"],
            dims["market"],
            universe.specialist_index(),
            state_dim=dims["state_dim"],
            obs_dim=dims["obs_dim"],
            hidden_dim=dims["hidden_dim"],
            position_mode=cfg.agents.position_mode,
        )


def single_agent_view(cfg: RunConfig, features: Any, seed: int) -> SingleAgentView:
    """A fresh flat network for the run, wrapped for the PPO core."""
    return SingleAgentView(
        build_single_agent(cfg, features, seed), single_agent_dims(cfg, features)
    )


def single_agent_metadata(cfg: RunConfig, dims: dict[str, Any], run_hash: str) -> dict[str, Any]:
    """Metadata of ``single_agent_ppo.pt`` (``dims`` from :func:`single_agent_dims`).

    ``load_single_agent`` checks ``component`` and ``symbols`` and rebuilds the network from
    ``dims``; the pipeline checks every field before skipping a completed stage.
    """
    universe = InstrumentUniverse.from_config(cfg.instruments)
    return {
        "component": SINGLE_AGENT_COMPONENT,
        "phase": SINGLE_AGENT,
        "symbols": universe.symbols,
        "specialists": list(universe.specialists),
        "dims": {
            "hidden_dim": dims["hidden_dim"],
            "state_dim": dims["state_dim"],
            "observation_dim": dims["obs_dim"],
            **{f"{n}.market_features_dim": d for n, d in dims["market"].items()},
        },
        "config_hash": run_hash,
    }


class SingleAgentView(TensorDictModuleBase):
    """``FlatPPOPolicy`` as a one-level hierarchy for the PPO core (see the module docstring)."""

    fixed_allocation = True  # the flat policy always writes allocation 1/S and appetite 1

    def __init__(self, net: FlatPPOPolicy, dims: dict[str, Any]) -> None:
        super().__init__()
        self.net = net
        self.dims = dims  # single_agent_dims: what the export's metadata records
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


class SingleAgentModule(HierarchicalPPOModule):
    """PPO over the single level of :class:`SingleAgentView`, on the portfolio reward."""

    phase = SINGLE_AGENT
    fixed_allocation = True

    @staticmethod
    def group_schedules(cfg: PhaseConfig) -> dict[str, GroupSchedule]:
        return {"meta": GroupSchedule(cfg.learning_rate)}


def main(argv: list[str] | None = None) -> float:
    """Entry point: the single-agent stage only, with Hydra-style overrides."""
    from mtquant.agents.training.pipeline import run_phase_cli

    return run_phase_cli(SINGLE_AGENT, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
