"""Environment throughput in transitions per second (env steps x batch size B).

Three implementations of one step, all driven by a fixed, policy-free action (alternating
long/short target weights, :func:`~mtquant.bench.risk_bench.bench_book`):

* ``env_steps_per_s``: ``TransformedEnv(MultiInstrumentEnv, PortfolioRiskTransform)`` from
  :func:`make_env`, stepped with ``env.step_and_maybe_reset`` (the loop a TorchRL collector
  runs: step, then reset only the finished envs).
* ``bare_kernel_steps_per_s``: :class:`BareStepper`, the same math without TorchRL —
  ``guard_book`` (limits, breaker, gate) → ``target_units`` → ``step_kernel`` → rewards → ``observe``, plus the
  same partial reset of finished accounts — so ``env_vs_bare_ratio`` is the price of the TorchRL
  API (specs, tensordicts, transforms).
* ``pandas_env_steps_per_s``: :class:`~mtquant.bench.pandas_env.PandasTradingEnv` at B = 1.
"""

from __future__ import annotations

from typing import cast

import torch

from mtquant.agents.environments import make_env
from mtquant.agents.environments.observations import FeatureTape, drawdown, observe
from mtquant.agents.environments.rewards import meta_reward, specialist_reward
from mtquant.bench.pandas_env import PandasTradingEnv
from mtquant.bench.risk_bench import bench_book
from mtquant.bench.settings import BenchSettings
from mtquant.bench.timing import time_block
from mtquant.execution.kernel import KernelParams, KernelState, step_kernel, target_units
from mtquant.experiment import Experiment
from mtquant.features.risk_inputs import var_tape
from mtquant.risk_management.correlation_tracker import SPIKE
from mtquant.risk_management.guard import BreakerState, GuardRules, guard_book


class BareStepper:
    """B accounts stepped by plain function calls: the env's step math without TorchRL."""

    def __init__(self, ctx: Experiment, batch: int, seed: int = 0) -> None:
        cfg = ctx.cfg
        self.ctx, self.batch = ctx, batch
        self.tape = FeatureTape.build(ctx.features, ctx.universe, "cpu")
        self.params = KernelParams.from_config(ctx.universe, cfg.env, cfg.risk)
        self.limits = ctx.limits.to("cpu", torch.float64)  # the transform enforces in float64
        self.var_tape = var_tape(ctx.features, cfg.risk)  # the VaR model's inputs by row
        self.first = max(ctx.splits.train[0], ctx.features.valid_from)
        self.last_start = ctx.splits.train[1] - 2
        self.gen = torch.Generator().manual_seed(seed)
        self.state, self.end = self._fresh()
        self.obs = observe(self.state, self.tape)
        self.rules = GuardRules.from_config(cfg.risk, cfg.env.rebalance_band)
        self.breaker = BreakerState.fresh(batch)

    def _fresh(self) -> tuple[KernelState, torch.Tensor]:
        start = torch.randint(self.first, self.last_start + 1, (self.batch,), generator=self.gen)
        n, s = self.ctx.universe.n, len(self.ctx.universe.specialists)
        state = KernelState.initial(start, n, s, self.ctx.cfg.env.initial_equity)
        end = torch.clamp(start + self.ctx.cfg.env.episode_length, max=self.ctx.splits.train[1] - 1)
        return state, end

    def step(self, weights: torch.Tensor) -> torch.Tensor:
        """One step toward ``weights [B, N]`` (float32, as the policy writes them) -> reward."""
        st = self.state
        obs = cast(dict[str, torch.Tensor], self.obs)
        inputs = None if self.var_tape is None else self.var_tape.inputs(st.t)
        guarded = guard_book(  # limits, circuit breaker and pre-trade gate, as the transform
            weights.double(), obs["cov"], obs["weights"], obs["equity"].reshape(-1),
            obs["tradable"], obs["correlation_regime"] == SPIKE, self.breaker,
            self.limits, self.rules, var_inputs=inputs,
        )  # fmt: skip
        self.breaker = guarded.state
        executed = guarded.executed.to(weights.dtype)  # the base env receives the action dtype
        close = self.tape.prices.close[st.t]
        target = target_units(executed, st.equity, close, self.params.usd_base)
        new, bd = step_kernel(st, target, self.tape.prices, self.params)
        r_meta = meta_reward(
            st.equity, new.equity, drawdown(st), drawdown(new), None, self.ctx.cfg.env
        )
        r_spec = specialist_reward(bd.specialist_return, self.ctx.cfg.env)
        reward = torch.cat([r_meta[:, None], r_spec], dim=1).float()
        done = bd.margin_call | (new.t >= self.end)
        if bool(done.any()):
            fresh, end = self._fresh()
            new, self.end = new.where(done, fresh), torch.where(done, end, self.end)
            self.breaker = self.breaker.where(done, BreakerState.fresh(self.batch))
        self.state = new
        self.obs = observe(new, self.tape)
        return reward


def measure_env(ctx: Experiment, s: BenchSettings) -> dict[str, float]:
    """Transitions / s through the TorchRL API, per batch size (module doc)."""
    out: dict[str, float] = {}
    for b in s.batch_sizes:
        env = make_env(
            ctx.cfg, ctx.features, ctx.splits.train, batch_size=b, device="cpu", seed=ctx.cfg.seed
        )
        action = bench_book(ctx.universe.n, b).float()
        state = {"td": env.reset()}

        def run(env=env, action=action, state=state) -> None:  # type: ignore[no-untyped-def]
            td = state["td"]
            for _ in range(s.env_steps):
                td.set("target_weights", action)
                _, td = env.step_and_maybe_reset(td)
            state["td"] = td

        out[str(b)] = time_block(run, s.repeats, s.warmup).rate(b * s.env_steps)
    return out


def measure_bare(ctx: Experiment, s: BenchSettings) -> dict[str, float]:
    """Transitions / s of :class:`BareStepper`, per batch size."""
    out: dict[str, float] = {}
    for b in s.batch_sizes:
        stepper = BareStepper(ctx, b, seed=ctx.cfg.seed)
        action = bench_book(ctx.universe.n, b).float()

        def run(stepper: BareStepper = stepper, action: torch.Tensor = action) -> None:
            for _ in range(s.env_steps):
                stepper.step(action)

        out[str(b)] = time_block(run, s.repeats, s.warmup).rate(b * s.env_steps)
    return out


def measure_pandas(ctx: Experiment, s: BenchSettings) -> dict[str, float]:
    """Transitions / s of the reference pandas env (B = 1, risk check on)."""
    env = PandasTradingEnv(
        ctx.features,
        ctx.universe,
        ctx.cfg.env,
        ctx.cfg.risk,
        ctx.splits.train,
        limits=ctx.limits,
        seed=ctx.cfg.seed,
    )
    action = bench_book(ctx.universe.n).numpy()

    def run() -> None:
        for _ in range(s.pandas_steps):
            env.step(action)

    return {"1": time_block(run, s.repeats, s.warmup).rate(s.pandas_steps)}
