"""A tiny env and policy that speak the hierarchical contract keys (docs/internals.md).

``ToyMarketEnv`` is a batched TorchRL env over a seeded table of daily returns with a planted
next-day signal in ``instrument_obs[..., 0]``; ``ToyHierarchicalPolicy`` is a small
meta-controller (Dirichlet allocation + Beta appetite) over per-specialist categorical heads.
They exist so that the PPO core, the collector feed and the phase modules can be tested in
milliseconds without market data; the real pair lives in ``mtquant.agents.environments`` and
``mtquant.agents.hierarchical``.
"""

from __future__ import annotations

from typing import cast

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn
from torch.distributions import Beta, Dirichlet
from torch.distributions import Categorical as CategoricalDist
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase
from torchrl.envs.utils import ExplorationType, exploration_type

OBS_DIM = 50
_DONE_KEYS = ("done", "terminated", "truncated")


class ToyMarketEnv(EnvBase):
    """``B`` accounts trading ``N`` instruments on a fixed return table; reward ``[B, 1+S]``."""

    def __init__(
        self,
        groups: dict[str, int],
        n_days: int = 400,
        batch_size: int = 4,
        episode_length: int = 16,
        meta_dim: int = 8,
        signal: float = 0.3,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=torch.Size([batch_size]))
        self.groups = dict(groups)
        self.n = sum(groups.values())
        self.meta_dim = meta_dim
        self.episode_length = episode_length
        self.cost_multiplier = 1.0  # scales the per-unit turnover cost (curriculum hook)
        self.first_row, self.last_start = 0, n_days - episode_length - 2
        self.all_rows = torch.arange(self.first_row, self.last_start + 1)
        self.start_rows = self.all_rows  # allowed episode starts (curriculum hook)
        gen = torch.Generator().manual_seed(10_000 + seed)
        z = torch.randn(n_days, self.n, generator=gen)  # the planted predictor, known at t
        noise = torch.randn(n_days, self.n, generator=gen)
        self.signal_table = z
        self.returns = 0.01 * (signal * torch.roll(z, 1, 0) + (1 - signal**2) ** 0.5 * noise)
        self.specialist_of = torch.repeat_interleave(
            torch.arange(len(groups)), torch.tensor(list(groups.values()))
        )  # [N]
        self._rng = torch.Generator()
        self._make_specs()
        self._set_seed(seed)

    def _make_specs(self) -> None:
        b, n = self.batch_size, self.n
        market = Composite({s: Unbounded(shape=(*b, 2)) for s in self.groups}, shape=b)
        self.observation_spec = Composite(
            meta_state=Unbounded(shape=(*b, self.meta_dim)),
            market=market,
            instrument_obs=Unbounded(shape=(*b, n, OBS_DIM)),
            vol=Unbounded(shape=(*b, n)),
            cov=Unbounded(shape=(*b, n, n)),
            weights=Unbounded(shape=(*b, n)),
            equity=Unbounded(shape=(*b, 1), dtype=torch.float64),
            shape=b,
        )
        self.action_spec = Composite(
            target_weights=Bounded(low=-3.0, high=3.0, shape=(*b, n)), shape=b
        )
        self.reward_spec = Composite(reward=Unbounded(shape=(*b, 1 + len(self.groups))), shape=b)
        self.done_spec = Composite(
            {k: Categorical(2, shape=(*b, 1), dtype=torch.bool) for k in _DONE_KEYS}, shape=b
        )

    def _set_seed(self, seed: int | None) -> None:
        self._rng.manual_seed(int(seed or 0))

    def set_cost_multiplier(self, x: float) -> None:
        """Scale the turnover cost from the next step (same hook as ``MultiInstrumentEnv``)."""
        self.cost_multiplier = float(x)

    def set_start_pool(self, rows: torch.Tensor | None) -> None:
        """Draw episode starts from ``rows`` (``None`` = every allowed row) from the next reset."""
        self.start_rows = self.all_rows if rows is None else torch.as_tensor(rows).long()

    def _observe(self) -> TensorDict:
        b = self.batch_size[0]
        sig = self.signal_table[self.t]  # [B, N]
        obs = torch.zeros(b, self.n, OBS_DIM)
        obs[..., 0] = sig
        obs[..., 48] = self.w
        market = {
            s: torch.stack([sig[:, self.specialist_of == i].mean(-1), self.w.abs().sum(-1)], -1)
            for i, s in enumerate(self.groups)
        }
        meta = torch.zeros(b, self.meta_dim)
        meta[:, 0] = self.equity - 1.0
        return TensorDict(
            meta_state=meta,
            market=TensorDict(market, batch_size=[b]),
            instrument_obs=obs,
            vol=torch.full((b, self.n), 0.01),
            cov=torch.eye(self.n).expand(b, self.n, self.n) * 1e-4,
            weights=self.w.clone(),
            equity=self.equity.double().unsqueeze(-1),
            batch_size=[b],
        )

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDict:
        b = self.batch_size[0]
        pick = torch.randint(len(self.start_rows), (b,), generator=self._rng)
        self.start = self.start_rows[pick]
        self.t = self.start.clone()
        self.w = torch.zeros(b, self.n)
        self.equity = torch.ones(b)
        td = self._observe()
        td.update(self.full_done_spec.zero())
        return td

    def _step(self, tensordict: TensorDictBase) -> TensorDict:
        target = tensordict["target_weights"]  # [B, N]
        cost = 5e-4 * self.cost_multiplier * (target - self.w).abs()  # [B, N]
        pnl = target * self.returns[self.t + 1] - cost  # [B, N]
        per_spec = torch.zeros(target.shape[0], len(self.groups)).index_add_(
            1, self.specialist_of, pnl
        )
        reward = 100.0 * torch.cat([pnl.sum(-1, keepdim=True), per_spec], -1)
        self.equity = self.equity * (1 + pnl.sum(-1))
        self.w = target.detach().clone()
        self.t = self.t + 1
        done = (self.t - self.start >= self.episode_length).unsqueeze(-1)
        out = self._observe()
        out.set("reward", reward)
        out.set("done", done)
        out.set("terminated", torch.zeros_like(done))
        out.set("truncated", done.clone())
        return out


class ToyHierarchicalPolicy(nn.Module):
    """Meta-controller over ``S`` specialists' per-instrument long/flat/short heads.

    Writes the contract's action, log-prob and value keys; ``evaluate_actions`` recomputes
    them for stored actions. ``fixed_allocation`` (phase 1) replaces the meta sample by an
    equal allocation with full appetite and a zero meta log-prob.
    """

    def __init__(self, groups: dict[str, int], meta_dim: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.groups = dict(groups)
        self.names = list(groups)
        self.fixed_allocation = False
        s = len(groups)
        self.meta = nn.ModuleDict(
            {
                "net": nn.Sequential(nn.Linear(meta_dim, hidden), nn.Tanh()),
                "conc": nn.Linear(hidden, s),
                "appetite": nn.Linear(hidden, 2),
                "value": nn.Linear(hidden, 1),
            }
        )
        self.specialists = nn.ModuleDict(
            {
                name: nn.ModuleDict({"head": nn.Linear(OBS_DIM + 2, 3), "value": nn.Linear(2, 1)})
                for name in groups
            }
        )
        self.slices = {}
        start = 0
        for name, n in groups.items():
            self.slices[name] = slice(start, start + n)
            start += n

        self.in_keys = ["meta_state", *[("market", n) for n in self.names], "instrument_obs"]

    def set_trainable(self, meta: bool = True, specialists: bool = True) -> None:
        """Freeze (False) or unfreeze each level's parameters."""
        self.meta.requires_grad_(meta)
        self.specialists.requires_grad_(specialists)

    def _dists(
        self, td: TensorDictBase
    ) -> tuple[Dirichlet, Beta, list[CategoricalDist], torch.Tensor]:
        h = self.meta["net"](td["meta_state"])
        conc = nn.functional.softplus(self.meta["conc"](h)) + 1.0
        ab = nn.functional.softplus(self.meta["appetite"](h)) + 1.0
        cats, values = [], [self.meta["value"](h)]
        for name in self.names:
            obs = td["instrument_obs"][..., self.slices[name], :]
            market = td["market", name].unsqueeze(-2).expand(*obs.shape[:-1], 2)
            head = cast(nn.ModuleDict, self.specialists[name])
            cats.append(CategoricalDist(logits=head["head"](torch.cat([obs, market], -1))))
            values.append(head["value"](td["market", name]))
        return Dirichlet(conc), Beta(ab[..., 0], ab[..., 1]), cats, torch.cat(values, -1)

    def forward(self, td: TensorDictBase, deterministic: bool | None = None) -> TensorDictBase:
        alloc_d, app_d, cats, value = self._dists(td)
        if deterministic is None:
            sample = exploration_type() != ExplorationType.DETERMINISTIC
        else:
            sample = not deterministic
        if self.fixed_allocation:
            alloc = torch.full_like(alloc_d.mean, 1.0 / len(self.names))
            appetite = torch.ones_like(app_d.mean)
        else:
            alloc = alloc_d.sample() if sample else alloc_d.mean
            appetite = app_d.sample() if sample else app_d.mean
        directions = [c.sample() if sample else c.probs.argmax(-1) for c in cats]
        td.set(("action", "allocation"), alloc)
        td.set(("action", "appetite"), appetite.unsqueeze(-1))
        td.set(("action", "direction"), torch.cat(directions, -1))
        td.update(self._log_probs(td, alloc_d, app_d, cats))
        td.set("value", value)
        td.set("sample_log_prob", td["log_prob", "meta"] + td["log_prob", "specialists"].sum(-1))
        sign = 1.0 - td["action", "direction"].to(alloc.dtype)  # long 1, flat 0, short -1
        spec_idx = torch.cat([torch.full((n,), i) for i, n in enumerate(self.groups.values())])
        share = alloc[..., spec_idx] / torch.tensor(list(self.groups.values()))[spec_idx]
        td.set("target_weights", sign * share * appetite.unsqueeze(-1))
        return td

    def _log_probs(self, td, alloc_d, app_d, cats) -> TensorDict:  # type: ignore[no-untyped-def]
        direction = td["action", "direction"]
        spec = torch.stack(
            [
                c.log_prob(direction[..., self.slices[n]]).sum(-1)
                for c, n in zip(cats, self.names, strict=False)
            ],
            -1,
        )
        ent_spec = torch.stack([c.entropy().sum(-1) for c in cats], -1)
        if self.fixed_allocation:
            meta = torch.zeros_like(spec[..., 0])
            ent_meta = torch.zeros_like(meta)
        else:
            alloc = td["action", "allocation"].clamp(1e-6, 1.0)
            alloc = alloc / alloc.sum(-1, keepdim=True)
            app = td["action", "appetite"].squeeze(-1).clamp(1e-6, 1 - 1e-6)
            meta = alloc_d.log_prob(alloc) + app_d.log_prob(app)
            ent_meta = alloc_d.entropy() + app_d.entropy()
        return TensorDict(
            {
                ("log_prob", "meta"): meta,
                ("log_prob", "specialists"): spec,
                ("entropy", "meta"): ent_meta,
                ("entropy", "specialists"): ent_spec,
            },
            batch_size=td.batch_size,
        )

    def evaluate_actions(self, td: TensorDictBase) -> TensorDict:
        """Log-probs, entropies and values of the stored actions in ``td``."""
        alloc_d, app_d, cats, value = self._dists(td)
        out = self._log_probs(td, alloc_d, app_d, cats)
        out.set("value", value)
        return out
