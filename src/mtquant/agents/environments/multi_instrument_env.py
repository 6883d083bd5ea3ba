"""``MultiInstrumentEnv``: B independent trading accounts as one batched TorchRL ``EnvBase``.

An env step is an index into precomputed feature tensors plus one call of
:func:`~mtquant.execution.kernel.step_kernel` (fills at ``t+1``, costs, swap, margin
call). Observations come from :func:`~mtquant.agents.environments.observations.observe`, rewards
from :mod:`~mtquant.agents.environments.rewards`.

Episodes start at rows drawn uniformly (a seeded ``torch.Generator``) from
``[max(split.start, features.valid_from), split.stop - 2]`` — or from a narrower pool set with
:meth:`MultiInstrumentEnv.set_start_pool` (the training curriculum's calm days), or at fixed
``start_rows`` for deterministic evaluation — and are truncated after ``episode_length`` steps or when the next fill
would need row ``split.stop`` (the last step reads ``fill_price`` / ``close`` at a row
``< split.stop``). ``terminated`` is set by a margin call. Partial resets (``"_reset"``) restart only
the flagged accounts, as TorchRL collectors expect.

Per-step records under ``"info"`` (next tensordict): ``equity [B]``, ``pnl``, ``spread_cost``,
``commission``, ``slippage``, ``swap``, ``costs`` (their sum) ``[B, N]`` in USD, ``turnover [B]``
(traded notional / equity before the step), ``date_index [B]`` (row of the close the new state is
marked at) and ``margin_call [B]``.

Public hooks for training schedules (both take effect at the next reset / step):
:meth:`~MultiInstrumentEnv.set_start_pool` and :meth:`~MultiInstrumentEnv.set_cost_multiplier`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase, TransformedEnv

from mtquant.agents.environments.observations import FeatureTape, drawdown, observe
from mtquant.agents.environments.rewards import meta_reward, specialist_reward
from mtquant.config import RunConfig
from mtquant.config.env import EnvConfig
from mtquant.config.risk import RiskConfig
from mtquant.errors import ConfigError, DataError
from mtquant.execution.kernel import KernelParams, KernelState, step_kernel, target_units
from mtquant.features.feature_set import FeatureSet
from mtquant.features.layout import OBSERVATION_DIM, PortfolioStateLayout
from mtquant.features.risk_inputs import var_tape
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.correlation_tracker import REGIMES
from mtquant.risk_management.guard import GuardRules
from mtquant.risk_management.limits import RiskLimits
from mtquant.risk_management.transform import PortfolioRiskTransform

INFO_PER_INSTRUMENT = ("pnl", "spread_cost", "commission", "slippage", "swap", "costs")


class MultiInstrumentEnv(EnvBase):
    """B simulated accounts trading the universe's N instruments on one split (see module doc)."""

    batch_locked = True

    def __init__(
        self,
        features: FeatureSet,
        universe: InstrumentUniverse,
        env_cfg: EnvConfig,
        risk_cfg: RiskConfig,
        split: tuple[int, int],
        batch_size: int = 1,
        device: torch.device | str = "cpu",
        seed: int | None = None,
        episode_length: int | None = None,
        start_rows: Sequence[int] | torch.Tensor | None = None,
    ) -> None:
        super().__init__(device=device, batch_size=torch.Size([batch_size]))
        self._check_inputs(features, universe, split)
        self.universe, self.env_cfg, self.split = universe, env_cfg, split
        self.episode_length = episode_length or env_cfg.episode_length
        self.tape = FeatureTape.build(features, universe, self.device)
        self.params = KernelParams.from_config(universe, env_cfg, risk_cfg, self.device)
        self.first_row = max(split[0], features.valid_from)
        self.last_start = split[1] - 2
        if self.first_row > self.last_start:
            raise DataError(
                f"split rows {split} with features.valid_from={features.valid_from}: fewer than 2 "
                f"rows to trade (first start row {self.first_row}, last {self.last_start})"
            )
        self._start_rows = self._parse_start_rows(start_rows, batch_size)
        self._start_pool: torch.Tensor | None = None  # [P] rows random starts are drawn from
        n, s = universe.n, len(universe.specialists)
        self._state = KernelState.initial(
            torch.full((batch_size,), self.first_row, device=self.device),
            n,
            s,
            env_cfg.initial_equity,
        )
        self._end_row = torch.full((batch_size,), split[1] - 1, device=self.device)
        self._rng = torch.Generator(device=self.device)
        self._rng.manual_seed(0 if seed is None else int(seed))
        self._make_specs(features, n, s)

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _check_inputs(
        features: FeatureSet, universe: InstrumentUniverse, split: tuple[int, int]
    ) -> None:
        if list(features.symbols) != universe.symbols:
            raise ConfigError(
                f"features.symbols {features.symbols} differ from the universe's instrument "
                f"axis {universe.symbols}"
            )
        start, stop = split
        if not (0 <= start < stop <= features.n_days):
            raise DataError(
                f"split rows ({start}, {stop}) outside the feature rows [0, {features.n_days})"
            )
        missing = [sp for sp in universe.specialists if sp not in features.market]
        if missing:
            raise DataError(f"features.market lacks specialists {missing}")

    def _parse_start_rows(
        self, start_rows: Sequence[int] | torch.Tensor | None, batch_size: int
    ) -> torch.Tensor | None:
        if start_rows is None:
            return None
        rows = torch.as_tensor(start_rows, dtype=torch.long, device=self.device).reshape(-1)
        rows = rows.expand(batch_size).clone() if rows.numel() == 1 else rows
        bad = (rows < self.first_row) | (rows > self.last_start)
        if rows.numel() != batch_size or bool(bad.any()):
            raise DataError(
                f"start_rows {rows.tolist()} must be {batch_size} rows in "
                f"[{self.first_row}, {self.last_start}] (split {self.split})"
            )
        return rows

    def _make_specs(self, features: FeatureSet, n: int, s: int) -> None:
        b, dev = self.batch_size, self.device
        f32, f64 = torch.float32, torch.float64
        layout = PortfolioStateLayout(n, s)

        def u(*shape: int, dtype: torch.dtype = f32) -> Unbounded:
            return Unbounded(shape=(*b, *shape), dtype=dtype, device=dev)

        info = Composite(
            {k: u(n, dtype=f64) for k in INFO_PER_INSTRUMENT},
            equity=u(dtype=f64),
            turnover=u(dtype=f64),
            date_index=Unbounded(shape=b, dtype=torch.long, device=dev),
            margin_call=Unbounded(shape=b, dtype=torch.bool, device=dev),
            shape=b,
            device=dev,
        )
        market = Composite(
            {sp: u(features.market[sp].shape[-1]) for sp in self.universe.specialists},
            shape=b,
            device=dev,
        )
        self.observation_spec = Composite(
            meta_state=u(layout.dim),
            market=market,
            instrument_obs=u(n, OBSERVATION_DIM),
            vol=u(n),
            cov=u(n, n),
            weights=u(n),
            equity=u(1, dtype=f64),
            tradable=Binary(shape=(*b, n), dtype=torch.bool, device=dev),
            correlation_regime=Bounded(0, len(REGIMES) - 1, shape=b, dtype=torch.long, device=dev),
            info=info,
            shape=b,
            device=dev,
        )
        bound = self.env_cfg.max_gross_weight
        self.action_spec = Composite(
            target_weights=Bounded(low=-bound, high=bound, shape=(*b, n), dtype=f32, device=dev),
            shape=b,
            device=dev,
        )
        self.reward_spec = Unbounded(shape=(*b, 1 + s), dtype=f32, device=dev)
        flag = Categorical(2, shape=(*b, 1), dtype=torch.bool, device=dev)
        self.done_spec = Composite(
            done=flag, terminated=flag.clone(), truncated=flag.clone(), shape=b, device=dev
        )

    # ------------------------------------------------------------------ TorchRL hooks
    def _set_seed(self, seed: int | None) -> None:
        self._rng.manual_seed(0 if seed is None else int(seed))

    def _draw_start_rows(self) -> torch.Tensor:
        if self._start_rows is not None:
            return self._start_rows
        if self._start_pool is not None:
            pick = torch.randint(
                len(self._start_pool), self.batch_size, generator=self._rng, device=self.device
            )
            return self._start_pool[pick]
        return torch.randint(
            self.first_row,
            self.last_start + 1,
            self.batch_size,
            generator=self._rng,
            device=self.device,
        )

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: object) -> TensorDictBase:
        mask = None if tensordict is None else tensordict.get("_reset", None)
        start = self._draw_start_rows()
        fresh = KernelState.initial(
            start, self.universe.n, len(self.universe.specialists), self.env_cfg.initial_equity
        )
        end = torch.clamp(start + self.episode_length, max=self.split[1] - 1)
        if mask is None:
            self._state, self._end_row = fresh, end
        else:
            m = mask.reshape(-1)
            self._state = self._state.where(m, fresh)
            self._end_row = torch.where(m, end, self._end_row)
        td = self._observation_td(self._state)
        zeros_b = torch.zeros(self.batch_size, dtype=torch.float64, device=self.device)
        zeros_bn = torch.zeros(
            *self.batch_size, self.universe.n, dtype=torch.float64, device=self.device
        )
        info = {k: zeros_bn for k in INFO_PER_INSTRUMENT}
        info.update(
            equity=self._state.equity,
            turnover=zeros_b,
            date_index=self._state.t,
            margin_call=torch.zeros(self.batch_size, dtype=torch.bool, device=self.device),
        )
        td["info"] = TensorDict(info, batch_size=self.batch_size, device=self.device)
        done = torch.zeros(*self.batch_size, 1, dtype=torch.bool, device=self.device)
        td["done"], td["terminated"], td["truncated"] = done, done.clone(), done.clone()
        return td

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        st = self._state
        weights = tensordict.get("target_weights")
        allocation = tensordict.get(("action", "allocation"), None)
        target = target_units(
            weights, st.equity, self.tape.prices.close[st.t], self.params.usd_base
        )
        new, bd = step_kernel(st, target, self.tape.prices, self.params)
        self._state = new
        r_meta = meta_reward(
            st.equity, new.equity, drawdown(st), drawdown(new), allocation, self.env_cfg
        )
        r_spec = specialist_reward(bd.specialist_return, self.env_cfg)
        reward = torch.cat([r_meta[:, None], r_spec], dim=1).float()
        terminated = bd.margin_call[:, None]
        truncated = (new.t >= self._end_row)[:, None]
        td = self._observation_td(new)
        costs = bd.costs
        td["info"] = TensorDict(
            {
                "pnl": bd.pnl,
                "spread_cost": bd.spread_cost,
                "commission": bd.commission,
                "slippage": bd.slippage,
                "swap": bd.swap,
                "costs": costs,
                "equity": new.equity,
                "turnover": bd.traded_notional.sum(-1) / st.equity.clamp_min(1e-12),
                "date_index": new.t,
                "margin_call": bd.margin_call,
            },
            batch_size=self.batch_size,
            device=self.device,
        )
        td["reward"] = reward
        td["terminated"] = terminated
        td["truncated"] = truncated
        td["done"] = terminated | truncated
        return td

    def _observation_td(self, state: KernelState) -> TensorDict:
        obs = observe(state, self.tape)
        return TensorDict(obs, batch_size=self.batch_size, device=self.device)

    # ------------------------------------------------------------------ schedule hooks
    def set_start_pool(self, rows: torch.Tensor | Sequence[int] | None) -> None:
        """Draw random episode starts uniformly from ``rows`` (``None`` = the whole split).

        ``rows`` are feature rows in ``[first_row, last_start]`` (the same range as the default
        draw); the draw uses the env's seeded generator, so ``set_seed`` still fixes the starts.
        Takes effect at the next reset; fixed ``start_rows`` given at construction win over it.
        Raises ``DataError`` for an empty pool or a row outside the range.
        """
        if rows is None:
            self._start_pool = None
            return
        pool = torch.as_tensor(rows, device=self.device).reshape(-1)
        if pool.numel() == 0 or pool.dtype == torch.bool or pool.is_floating_point():
            raise DataError(
                f"MultiInstrumentEnv.set_start_pool: expected a non-empty integer tensor of rows, "
                f"got dtype {pool.dtype} with {pool.numel()} values"
            )
        pool = pool.long()
        bad = (pool < self.first_row) | (pool > self.last_start)
        if bool(bad.any()):
            row = int(pool[bad][0])
            raise DataError(
                f"MultiInstrumentEnv.set_start_pool: row {row} outside the start range "
                f"[{self.first_row}, {self.last_start}] of split {self.split}"
            )
        self._start_pool = pool

    def set_cost_multiplier(self, x: float) -> None:
        """Scale every trading cost (spread, commission, slippage, swap) by ``x`` from the next step.

        ``x`` replaces the kernel's ``cost_multiplier`` (it is not compounded with the previous
        value; the config's ``env.cost_multiplier`` is the value at construction). Raises
        ``ConfigError`` unless ``x`` is a finite number >= 0.
        """
        value = float(x)
        if not math.isfinite(value) or value < 0:
            raise ConfigError(
                f"MultiInstrumentEnv.set_cost_multiplier: expected a finite value >= 0, got {x!r}"
            )
        self.params = replace(self.params, cost_multiplier=value)

    @property
    def cost_multiplier(self) -> float:
        """The multiplier currently applied to every trading cost."""
        return float(self.params.cost_multiplier)

    # ------------------------------------------------------------------ accessors
    @property
    def state(self) -> KernelState:
        """The accounts' current kernel state (read-only by convention)."""
        return self._state


def make_env(
    cfg: RunConfig,
    features: FeatureSet,
    split: tuple[int, int],
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    seed: int | None = None,
    universe: InstrumentUniverse | None = None,
    limits: RiskLimits | None = None,
    **env_kwargs: Any,
) -> TransformedEnv:
    """``MultiInstrumentEnv`` + ``PortfolioRiskTransform`` (always on) from a run config.

    ``batch_size`` defaults to ``hardware.n_envs``, ``device`` to ``hardware.env_device``,
    ``seed`` to ``cfg.seed``; ``universe`` and ``limits`` (built from the config when not given)
    let a caller that holds them pass them; ``env_kwargs`` go to the env (``episode_length``,
    ``start_rows``).
    """
    universe = InstrumentUniverse.from_config(cfg.instruments) if universe is None else universe
    base = MultiInstrumentEnv(
        features,
        universe,
        cfg.env,
        cfg.risk,
        split,
        batch_size=cfg.hardware.n_envs if batch_size is None else batch_size,
        device=cfg.hardware.env_device if device is None else device,
        seed=cfg.seed if seed is None else seed,
        **env_kwargs,
    )
    limits = RiskLimits.from_config(cfg.risk, universe) if limits is None else limits
    rules = GuardRules.from_config(cfg.risk, cfg.env.rebalance_band)
    tape = var_tape(features, cfg.risk, base.device)
    return TransformedEnv(base, PortfolioRiskTransform(limits, rules, var_tape=tape))
