"""``HierarchicalPolicy``: the meta-controller and the specialists as one tensordict module.

Reads ``meta_state [*, 74]``, ``("market", <specialist>) [*, D_s]`` and
``instrument_obs [*, N, 50]``; writes the hierarchical action and what PPO needs:

=================================  ==========  ===========================================
key                                shape       meaning
=================================  ==========  ===========================================
``("action", "allocation")``       ``[*, S]``  Dirichlet sample (or mean), on the simplex
``("action", "appetite")``         ``[*, 1]``  Beta sample (or mean), in [0, 1]
``("action", "direction")``        ``[*, N]``  int64, 0 long / 1 flat / 2 short
``("log_prob", "meta")``           ``[*]``     Dirichlet + Beta log-density (0 when fixed)
``("log_prob", "specialists")``    ``[*, S]``  sum of each specialist's categorical log-probs
``"sample_log_prob"``              ``[*]``     meta + all specialists
``"value"``                        ``[*, 1+S]``  meta value, then each specialist's value
``("entropy", "meta")``            ``[*]``     differential entropy (0 when fixed)
``("entropy", "specialists")``     ``[*, S]``  sum of the instruments' categorical entropies
=================================  ==========  ===========================================

Each specialist receives the sampled allocation of its own index, ``allocation[..., s:s+1]``.
Modes: sampling (exploration) or deterministic (distribution means, argmax directions). The
mode follows ``deterministic=`` when given, else TorchRL's ``set_exploration_type``
(``DETERMINISTIC`` / ``MODE`` / ``MEAN`` -> deterministic; ``RANDOM`` or unset -> sample).
Sampling uses torch's global RNG, which the trainer seeds.

Training phases: ``fixed_allocation=True`` (phase 1) feeds every specialist the equal
allocation ``1/S`` at appetite 1, writes those as the meta action and a meta log-prob and
entropy of 0. :meth:`set_trainable` freezes a level (phase 2: specialists frozen but still
sampling their directions, so the environment sees the same stochastic policy they were
trained as). The meta-controller's dropout is active in ``train()`` mode; collect in ``eval()``
mode so that :meth:`evaluate_actions` in eval mode reproduces the stored log-probs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import InteractionType, TensorDictModuleBase, TensorDictSequential
from tensordict.nn.probabilistic import interaction_type
from torch import nn
from torch.distributions import Categorical

from mtquant.agents.hierarchical.base_specialist import BaseSpecialist
from mtquant.agents.hierarchical.meta_controller import MetaController
from mtquant.agents.sizing import SizingModule
from mtquant.errors import ConfigError

ACTION_KEYS = (("action", "allocation"), ("action", "appetite"), ("action", "direction"))
OUT_KEYS = [
    *ACTION_KEYS,
    ("log_prob", "meta"),
    ("log_prob", "specialists"),
    "sample_log_prob",
    "value",
    ("entropy", "meta"),
    ("entropy", "specialists"),
]


def _is_deterministic(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    mode = interaction_type()
    return mode is not None and mode != InteractionType.RANDOM


class HierarchicalPolicy(TensorDictModuleBase):
    """Meta-controller + specialists (``nn.ModuleDict`` in axis-``S`` order) as a tensordict module."""

    def __init__(
        self,
        meta: MetaController,
        specialists: Mapping[str, BaseSpecialist],
        fixed_allocation: bool = False,
    ) -> None:
        super().__init__()
        if meta.n_specialists != len(specialists):
            raise ConfigError(
                f"HierarchicalPolicy: meta-controller allocates over {meta.n_specialists} "
                f"specialists, got {len(specialists)} ({list(specialists)})"
            )
        self.meta = meta
        self.specialists = nn.ModuleDict(dict(specialists))
        self.names = list(specialists)
        counts = [sp.instrument_count for sp in specialists.values()]
        stops = torch.tensor(counts).cumsum(0).tolist()
        self.bounds = [(stop - c, stop) for c, stop in zip(counts, stops, strict=True)]
        index = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
        self.register_buffer("specialist_index", index)  # [N]
        self.fixed_allocation = fixed_allocation
        self.in_keys = ["meta_state", *[("market", n) for n in self.names], "instrument_obs"]
        self.out_keys = list(OUT_KEYS)

    def specialist(self, name: str) -> BaseSpecialist:
        """The specialist called ``name`` (typed access into the ``ModuleDict``)."""
        return cast(BaseSpecialist, self.specialists[name])

    @property
    def symbols(self) -> list[str]:
        """Instrument axis ``N``: the specialists' instruments concatenated in order."""
        return [s for n in self.names for s in self.specialist(n).get_instruments()]

    def set_trainable(self, meta: bool = True, specialists: bool = True) -> None:
        """Freeze (False) or unfreeze each level's parameters (phase 2 freezes the specialists)."""
        self.meta.requires_grad_(meta)
        for sp in self.specialists.values():
            sp.requires_grad_(specialists)

    def forward(
        self, tensordict: TensorDictBase, deterministic: bool | None = None
    ) -> TensorDictBase:
        """Act: write the action, log-probs, entropies and values into ``tensordict``."""
        out = self._run(tensordict, _is_deterministic(deterministic), stored=False)
        tensordict.update(out)
        return tensordict

    def evaluate_actions(self, tensordict: TensorDictBase) -> TensorDictBase:
        """Log-probs, entropies and values of the actions stored in ``tensordict`` (for PPO).

        Returns a new tensordict with every key of the table except the actions themselves.
        """
        out = self._run(tensordict, deterministic=True, stored=True)
        for key in ACTION_KEYS:
            del out[key]
        return out

    def with_sizing(
        self, target_vol: float, max_weight: float = float("inf")
    ) -> TensorDictSequential:
        """``Seq(self, SizingModule)``: the collector's policy, writing ``target_weights``."""
        return TensorDictSequential(
            self, SizingModule(self.specialist_index, target_vol, max_weight)
        )

    # ------------------------------------------------------------------ core
    def _run(self, td: TensorDictBase, deterministic: bool, stored: bool) -> TensorDictBase:
        state = td.get("meta_state")
        lead = state.shape[:-1]
        state = state.reshape(-1, state.shape[-1])  # [B, 74]
        obs = td.get("instrument_obs")
        obs = obs.reshape(-1, *obs.shape[-2:])  # [B, N, 50]
        b, n_spec = state.shape[0], len(self.names)

        if self.fixed_allocation:
            _, _, meta_value = self.meta(state)
            allocation = state.new_full((b, n_spec), 1.0 / n_spec)
            appetite = state.new_ones(b, 1)
            logp_meta = state.new_zeros(b)
            ent_meta = state.new_zeros(b)
        else:
            dist, meta_value = self.meta.distribution(state)
            if stored:
                allocation = td.get(("action", "allocation")).reshape(b, n_spec)
                appetite = td.get(("action", "appetite")).reshape(b, 1)
            elif deterministic:
                allocation, appetite = (x.detach() for x in dist.mean)
            else:
                allocation, appetite = dist.sample()
            logp_meta = dist.log_prob(allocation, appetite)
            ent_meta = dist.entropy()

        stored_dir = td.get(("action", "direction")).reshape(b, -1) if stored else None
        directions, logps, ents, values = [], [], [], [meta_value]
        for s, name in enumerate(self.names):
            lo, hi = self.bounds[s]
            logits, value = self.specialist(name).logits(
                td.get(("market", name)).reshape(b, -1), obs[:, lo:hi], allocation[:, s : s + 1]
            )
            cat = Categorical(logits=logits)  # batch [B, n_s]
            if stored_dir is not None:
                d = stored_dir[:, lo:hi]
            elif deterministic:
                d = logits.argmax(-1)
            else:
                d = cat.sample()
            directions.append(d)
            logps.append(cat.log_prob(d).sum(-1))
            ents.append(cat.entropy().sum(-1))
            values.append(value)

        logp_spec = torch.stack(logps, -1)  # [B, S]
        out = {
            ("action", "allocation"): allocation,
            ("action", "appetite"): appetite,
            ("action", "direction"): torch.cat(directions, -1).long(),
            ("log_prob", "meta"): logp_meta,
            ("log_prob", "specialists"): logp_spec,
            "sample_log_prob": logp_meta + logp_spec.sum(-1),
            "value": torch.cat(values, -1),
            ("entropy", "meta"): ent_meta,
            ("entropy", "specialists"): torch.stack(ents, -1),
        }
        result = TensorDict(out, batch_size=[b])
        return result.reshape(lead)


def build_policy(
    agents_cfg: object, instruments_cfg: object, fixed_allocation: bool = False
) -> HierarchicalPolicy:
    """Meta-controller + specialists from the ``agents`` and ``instruments`` configs."""
    from mtquant.agents.hierarchical.meta_controller import build_meta_controller
    from mtquant.agents.hierarchical.specialist_factory import build_specialists

    specialists = build_specialists(agents_cfg, instruments_cfg)  # type: ignore[arg-type]
    n_instruments = sum(sp.instrument_count for sp in specialists.values())
    meta = build_meta_controller(agents_cfg, n_instruments, len(specialists))
    return HierarchicalPolicy(meta, specialists, fixed_allocation=fixed_allocation)
