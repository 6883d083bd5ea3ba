"""``HierarchicalPolicy``: the meta-controller and the specialists as one tensordict module.

Reads ``meta_state [*, 74]``, ``("market", <specialist>) [*, D_s]`` and
``instrument_obs [*, N, 50]``; writes the hierarchical action and what PPO needs:

=================================  ============  ==============================================
key                                shape         meaning
=================================  ============  ==============================================
``("action", "allocation")``       ``[*, S]``    Dirichlet sample (or mean), on the simplex
``("action", "appetite")``         ``[*, 1]``    Beta sample (or mean), in [0, 1]
``("action", "direction")``        ``[*, N]``    int64, 0 long / 1 flat / 2 short
``("action", "position")``         ``[*, N]``    executed share of each leg's budget, [-1, 1]
``("log_prob", "meta")``           ``[*]``       Dirichlet + Beta log-density (0 when fixed)
``("log_prob", "specialists")``    ``[*, S]``    sum of each specialist's categorical log-probs
``"sample_log_prob"``              ``[*]``       meta + all specialists
``"value"``                        ``[*, 1+S]``  meta value, then each specialist's value
``("entropy", "meta")``            ``[*]``       differential entropy (0 when fixed)
``("entropy", "specialists")``     ``[*, S]``    sum of the instruments' categorical entropies
=================================  ============  ==============================================

Each specialist receives the sampled allocation of its own index, ``allocation[..., s:s+1]``.
Modes: sampling (exploration) or deterministic (distribution means, argmax directions). The
mode follows ``deterministic=`` when given, else TorchRL's ``set_exploration_type``
(``DETERMINISTIC`` / ``MODE`` / ``MEAN`` -> deterministic; ``RANDOM`` or unset -> sample).
``position`` is the sampled direction's sign; in a deterministic pass it follows
``position_mode`` (``agents.position_mode``): ``"mean"`` the expected position
``P(long) - P(short)`` of each head, ``"mode"`` the argmax direction's sign
(:func:`~mtquant.agents.sizing.leg_position`). PPO never reads it: log-probs are the directions'.
Sampling uses torch's global RNG, which the trainer seeds.

Inference: :meth:`HierarchicalPolicy.act` returns the deterministic action as a
:class:`PolicyAction` of plain tensors -- the same operations, so the same numbers, as the
``("action", *)`` and ``("entropy", "specialists")`` entries of a deterministic forward --
without the log-probs, values and tensordicts only PPO reads (the live decision cycle of
:class:`~mtquant.agents.hierarchical.hierarchical_system.HierarchicalTradingSystem`).

Training phases: ``fixed_allocation=True`` (phase 1) feeds every specialist the equal
allocation ``1/S`` at appetite 1, writes those as the meta action and a meta log-prob and
entropy of 0. :meth:`set_trainable` freezes a level (phase 2: specialists frozen but still
sampling their directions, so the environment sees the same stochastic policy they were
trained as). The meta-controller's dropout is active in ``train()`` mode; collect in ``eval()``
mode so that :meth:`evaluate_actions` in eval mode reproduces the stored log-probs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, cast

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import InteractionType, TensorDictModuleBase, TensorDictSequential
from tensordict.nn.probabilistic import interaction_type
from torch import nn

from mtquant.agents.hierarchical.base_specialist import BaseSpecialist
from mtquant.agents.hierarchical.meta_controller import MetaController
from mtquant.agents.sizing import POSITION_KEY, SizingModule, leg_position
from mtquant.config.agents import check_position_mode
from mtquant.errors import ConfigError
from mtquant.features.feature_set import FeatureSet

ACTION_KEYS = (("action", "allocation"), ("action", "appetite"), ("action", "direction"))
OUT_KEYS = [
    *ACTION_KEYS,
    POSITION_KEY,
    ("log_prob", "meta"),
    ("log_prob", "specialists"),
    "sample_log_prob",
    "value",
    ("entropy", "meta"),
    ("entropy", "specialists"),
]


class PolicyAction(NamedTuple):
    """The deterministic action of :meth:`HierarchicalPolicy.act` (flat batch ``B``)."""

    allocation: torch.Tensor  # [B, S]
    appetite: torch.Tensor  # [B, 1]
    direction: torch.Tensor  # [B, N] int64
    position: torch.Tensor  # [B, N] executed share of each leg's budget
    specialist_entropy: torch.Tensor  # [B, S] sum of the instruments' categorical entropies


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
        position_mode: str = "mean",
    ) -> None:
        super().__init__()
        self.position_mode = check_position_mode(position_mode, "HierarchicalPolicy")
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
        # the instrument heads' two Linear layers in axis order (parameters are read afresh at
        # each pass, so swapped-in parameters, e.g. from a TorchRL weight sync, are used)
        heads = [
            cast(nn.Sequential, sp.instrument_heads[sym])
            for sp in specialists.values()
            for sym in sp.instruments
        ]
        self._head_linears = [cast(nn.Linear, h[k]) for h in heads for k in (0, 3)]
        self._same_heads = len({tuple(p.shape for p in h.parameters()) for h in heads}) == 1
        self._head_dropout = max(float(cast(nn.Dropout, h[2]).p) for h in heads)
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
        return self._run(tensordict, deterministic=True, stored=True)

    def act(
        self,
        meta_state: torch.Tensor,
        market: Mapping[str, torch.Tensor],
        instrument_obs: torch.Tensor,
    ) -> PolicyAction:
        """The deterministic action of a flat batch (``meta_state [B, 74]``, ``market`` by
        specialist ``[B, D_s]``, ``instrument_obs [B, N, 50]``), for inference.

        Equal, value for value, to the ``("action", *)`` and ``("entropy", "specialists")``
        entries of ``forward(td, deterministic=True)`` (the same operations on the same
        inputs) without what only PPO reads -- log-probs, values, the meta entropy -- and
        without tensordicts: the live decision cycle's path (at ``B = 1`` on one CPU thread
        ~185 us against ~410 us for the forward).
        """
        b, n_spec = meta_state.shape[0], len(self.names)
        if self.fixed_allocation:
            allocation = meta_state.new_full((b, n_spec), 1.0 / n_spec)
            appetite = meta_state.new_ones(b, 1)
        else:
            allocation, appetite, _ = self.meta(meta_state)  # the distribution's means
        markets = [market[name].reshape(b, -1) for name in self.names]
        logits, _ = self._logits(markets, instrument_obs, allocation, b, with_values=False)
        log_pmf, probs = _categorical(logits)
        direction = logits.argmax(-1)
        return PolicyAction(
            allocation=allocation,
            appetite=appetite,
            direction=direction,
            position=leg_position(probs, direction, True, self.position_mode),
            specialist_entropy=self._per_specialist(_entropy(log_pmf, probs)),
        )

    def values(self, tensordict: TensorDictBase) -> torch.Tensor:
        """State values ``[*, 1+S]`` of the deterministic policy (the GAE bootstrap).

        Equal to ``forward(td, deterministic=True)["value"]`` -- the specialists' values read the
        mean allocation -- without the instrument heads, sampling, log-probs or entropies.
        """
        state = tensordict.get("meta_state")
        lead = state.shape[:-1]
        state = state.reshape(-1, state.shape[-1])
        b, n_spec = state.shape[0], len(self.names)
        allocation, _, meta_value = self.meta(state)
        if self.fixed_allocation:
            allocation = state.new_full((b, n_spec), 1.0 / n_spec)
        values = [meta_value]
        for s, name in enumerate(self.names):
            sp = self.specialist(name)
            enc = sp.encoder(tensordict.get(("market", name)).reshape(b, -1))
            alloc = allocation[:, s : s + 1].to(enc.dtype)
            values.append(sp.value_head(torch.cat([enc, alloc], -1)))
        return torch.cat(values, -1).reshape(*lead, 1 + n_spec)

    def with_sizing(
        self, target_vol: float, max_weight: float = float("inf")
    ) -> TensorDictSequential:
        """``Seq(self, SizingModule)``: the collector's policy, writing ``target_weights``."""
        return TensorDictSequential(
            self, SizingModule(self.specialist_index, target_vol, max_weight)
        )

    # ------------------------------------------------------------------ core
    def _fusable(self) -> bool:
        """All instrument heads have one shape and no head dropout is active (then fuse them)."""
        if not self._same_heads:
            return False
        return self._head_dropout == 0.0 or not any(sp.training for sp in self.specialists.values())

    def _head_weights(self) -> tuple[torch.Tensor, ...]:
        """The N instrument heads stacked in axis order: ``w1 [N,H,in], b1 [N,H], w2 [N,3,H], b2 [N,3]``.

        Stacked afresh on every pass (~10 us): gradients reach each head, and weights written in
        place by another process (TorchRL's shared-memory weight sync) are always the ones used.
        The parameters are read from each layer's ``_parameters`` (what ``lin.weight`` returns,
        without ``nn.Module.__getattr__``'s fallback: half the cost of the pass at ``B = 1``).
        """
        linears = self._head_linears
        w = [cast(torch.Tensor, lin._parameters["weight"]) for lin in linears]
        b = [cast(torch.Tensor, lin._parameters["bias"]) for lin in linears]
        return (
            torch.stack(w[0::2]),
            torch.stack(b[0::2]),
            torch.stack(w[1::2]),
            torch.stack(b[1::2]),
        )

    def _specialist_logits(
        self, td: TensorDictBase, obs: torch.Tensor, allocation: torch.Tensor, b: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[B, N, 3]`` of every instrument head and the specialists' values ``[B, S]``
        for the ``("market", <specialist>)`` entries of ``td`` (see :meth:`_logits`)."""
        markets = [td.get(("market", name)).reshape(b, -1) for name in self.names]
        logits, values = self._logits(markets, obs, allocation, b, with_values=True)
        assert values is not None
        return logits, values

    def _logits(
        self,
        markets: Sequence[torch.Tensor],
        obs: torch.Tensor,
        allocation: torch.Tensor,
        b: int,
        with_values: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits ``[B, N, 3]`` of every instrument head and, ``with_values``, the specialists'
        values ``[B, S]``, from each specialist's market features ``[B, D_s]`` in axis order.

        The encoders and value heads run per specialist (their input widths differ); the N
        instrument heads run as one batched ``einsum`` over the stacked head weights -- the same
        arithmetic as :meth:`BaseSpecialist.logits`, once for all specialists.
        """
        if not self._fusable():
            parts = [
                self.specialist(name).logits(market, obs[:, lo:hi], allocation[:, s : s + 1])
                for s, (name, market, (lo, hi)) in enumerate(
                    zip(self.names, markets, self.bounds, strict=True)
                )
            ]
            return torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], -1)
        encs, values = [], []
        for s, (name, market) in enumerate(zip(self.names, markets, strict=True)):
            sp = self.specialist(name)
            enc = sp.encoder(market)  # [B, E]
            encs.append(enc)
            if with_values:
                alloc = allocation[:, s : s + 1].to(enc.dtype)
                values.append(sp.value_head(torch.cat([enc, alloc], -1)))
        idx = self.specialist_index
        enc_i = torch.stack(encs, 1).index_select(1, idx)  # [B, N, E]
        alloc_i = allocation.to(enc_i.dtype).index_select(1, idx).unsqueeze(-1)  # [B, N, 1]
        x = torch.cat([enc_i, obs, alloc_i], -1)  # [B, N, E + 50 + 1]
        w1, b1, w2, b2 = self._head_weights()
        hidden = torch.relu(torch.einsum("bni,nhi->bnh", x, w1) + b1)
        logits = torch.einsum("bnh,nkh->bnk", hidden, w2) + b2
        return logits, torch.cat(values, -1) if with_values else None

    def _per_specialist(self, x: torch.Tensor) -> torch.Tensor:
        """Sum ``[B, N]`` over each specialist's instruments: ``[B, S]``."""
        return torch.stack([x[:, lo:hi].sum(-1) for lo, hi in self.bounds], -1)

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

        logits, spec_values = self._specialist_logits(td, obs, allocation, b)  # [B,N,3], [B,S]
        log_pmf, probs = _categorical(logits)  # [B, N, 3] each
        if stored:
            direction = td.get(("action", "direction")).reshape(b, -1).long()
        elif deterministic:
            direction = logits.argmax(-1)
        else:
            direction = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, True)
            direction = direction.reshape(b, -1)
        logp_i = log_pmf.gather(-1, direction.unsqueeze(-1)).squeeze(-1)  # [B, N]
        ent_i = _entropy(log_pmf, probs)  # [B, N]
        logp_spec = self._per_specialist(logp_i)  # [B, S]

        out = {
            ("log_prob", "meta"): logp_meta,
            ("log_prob", "specialists"): logp_spec,
            "sample_log_prob": logp_meta + logp_spec.sum(-1),
            "value": torch.cat([meta_value, spec_values], -1),
            ("entropy", "meta"): ent_meta,
            ("entropy", "specialists"): self._per_specialist(ent_i),
        }
        if not stored:
            out[POSITION_KEY] = leg_position(probs, direction, deterministic, self.position_mode)
            out[("action", "allocation")] = allocation
            out[("action", "appetite")] = appetite
            out[("action", "direction")] = direction
        if len(lead) != 1:
            out = {k: v.reshape(*lead, *v.shape[1:]) for k, v in out.items()}
        return TensorDict(out, batch_size=lead)


def _categorical(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities and probabilities ``[.., 3]`` of categorical heads: closed form of
    ``torch.distributions.Categorical(logits=logits)`` (its arithmetic)."""
    log_pmf = logits - logits.logsumexp(-1, keepdim=True)
    return log_pmf, torch.softmax(log_pmf, -1)


def _entropy(log_pmf: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Entropy ``[..]`` of categorical heads (``Categorical.entropy``'s arithmetic)."""
    min_real = torch.finfo(log_pmf.dtype).min
    return -(log_pmf.clamp(min=min_real) * probs).sum(-1)


def build_policy(
    agents_cfg: object,
    instruments_cfg: object,
    fixed_allocation: bool = False,
    features: FeatureSet | None = None,
) -> HierarchicalPolicy:
    """Meta-controller + specialists from the ``agents`` and ``instruments`` configs
    (``agents.position_mode`` picks what a deterministic pass executes).

    With ``features``, each specialist's input widths come from the feature set it will read
    (its domain features and the instrument observation); a width the config states must agree.
    """
    from mtquant.agents.hierarchical.meta_controller import build_meta_controller
    from mtquant.agents.hierarchical.specialist_factory import build_specialists

    input_dims = None
    if features is not None:
        obs_dim = int(features.obs.shape[-1])
        input_dims = {
            name: {"market_features_dim": int(m.shape[-1]), "observation_dim": obs_dim}
            for name, m in features.market.items()
        }
    specialists = build_specialists(agents_cfg, instruments_cfg, input_dims=input_dims)  # type: ignore[arg-type]
    n_instruments = sum(sp.instrument_count for sp in specialists.values())
    meta = build_meta_controller(agents_cfg, n_instruments, len(specialists))
    mode = str(getattr(agents_cfg, "position_mode", "mean"))
    return HierarchicalPolicy(
        meta, specialists, fixed_allocation=fixed_allocation, position_mode=mode
    )
