"""``var_us`` and ``var_batch_us``: the VaR library and the risk transform, per call.

* ``var_us``: one book of N instruments over ``var_days`` rows of daily returns, through
  :func:`parametric_var`, :func:`historical_var` and :func:`monte_carlo_var` (``var_sims``
  draws, a seeded generator) of :mod:`mtquant.risk_management.var`, numpy arrays by default.
* ``var_batch_us``: :meth:`PortfolioRiskTransform.inv` (the action path of ``env.step``, i.e.
  :func:`enforce_limits` on every book plus the diagnostics) on B books with their own
  covariance ``[B, N, N]``, rows of the features' rolling covariance, under the config's
  ``risk.var_method``.
* ``var_method_us``: the same call (B = the first of ``var_batch_sizes``) with every
  ``risk.var_method`` (its inputs gathered by row from the features, as the env's transform
  does) and, for the parametric model, the size-weighted correlation rule; ``var_method_ratio``
  is each over today's default (parametric, pairwise).
* ``var_batch_compiled_us``: the same call with ``RiskLimits(compiled=True)`` (the
  inductor-compiled core of :mod:`mtquant.risk_management.limits_core`, which compiles the
  parametric model and the pairwise correlation rule); its first call per batch size compiles
  (seconds, logged) and is not timed.

The return history is the features' own daily returns (the last ``var_days`` rows of the
training split), not random numbers; the books are fixed long/short weights.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
from tensordict import TensorDict

from mtquant.bench.settings import BenchSettings
from mtquant.bench.timing import per_call_us
from mtquant.experiment import Experiment
from mtquant.features.risk_inputs import var_tape
from mtquant.risk_management.guard import BreakerState, GuardRules
from mtquant.risk_management.limits import RiskLimits
from mtquant.risk_management.transform import ROW_KEY, PortfolioRiskTransform
from mtquant.risk_management.var import historical_var, monte_carlo_var, parametric_var
from mtquant.risk_management.var_models import VAR_METHODS, VarTape

log = logging.getLogger("mtquant.bench")


def bench_book(n: int, batch: int | None = None, gross: float = 1.6) -> torch.Tensor:
    """Alternating long/short weights of total gross ``gross``: ``[N]`` or ``[B, N]``.

    Books in a batch differ by a deterministic tilt so that the risk layers bind on some and
    not on others (as in a real rollout)."""
    sign = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).double()
    w = sign * gross / n
    if batch is None:
        return w
    tilt = torch.linspace(0.5, 2.0, batch, dtype=torch.float64)[:, None]
    return w[None, :] * tilt


def var_inputs(ctx: Experiment, days: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Daily returns ``[days, N]`` ending at the training split's last row, and a book ``[N]``."""
    stop = ctx.splits.train[1]
    start = max(ctx.features.valid_from, stop - days)
    returns = ctx.features.returns[start:stop].double()
    return returns, bench_book(returns.shape[1])


def measure_var_us(ctx: Experiment, s: BenchSettings) -> dict[str, float]:
    """Median µs per call of the three VaR estimators (module doc)."""
    returns_t, weights_t = var_inputs(ctx, s.var_days)
    calls: dict[str, Callable[[], object]]
    if s.var_backend == "numpy":
        r, w, g = returns_t.numpy(), weights_t.numpy(), np.random.default_rng(ctx.cfg.seed)
        calls = {
            "parametric": lambda: parametric_var(r, w, 0.95),
            "historical": lambda: historical_var(r, w, 0.95),
            "monte_carlo": lambda: monte_carlo_var(r, w, 0.95, n_sims=s.var_sims, generator=g),
        }
    else:
        rt, wt = returns_t, weights_t
        gt = torch.Generator().manual_seed(ctx.cfg.seed)
        calls = {
            "parametric": lambda: parametric_var(rt, wt, 0.95),
            "historical": lambda: historical_var(rt, wt, 0.95),
            "monte_carlo": lambda: monte_carlo_var(rt, wt, 0.95, n_sims=s.var_sims, generator=gt),
        }
    mc_calls = max(1, s.var_calls // 20)  # a Monte Carlo call is ~100x a parametric one
    return {
        name: per_call_us(
            fn, mc_calls if name == "monte_carlo" else s.var_calls, s.repeats, s.warmup
        )
        for name, fn in calls.items()
    }


def measure_var_batch_us(ctx: Experiment, s: BenchSettings) -> dict[str, float]:
    """Median µs of the risk transform's inverse call on B books (module doc)."""
    return _transform_us(ctx, s, ctx.limits, var_tape(ctx.features, ctx.cfg.risk))


def measure_var_batch_compiled_us(ctx: Experiment, s: BenchSettings) -> dict[str, float]:
    """As :func:`measure_var_batch_us` through the compiled core (first call untimed, logged)."""
    plain = replace(
        ctx.limits,
        compiled=True,
        var_method="parametric",
        correlation_rule="pairwise",
        max_portfolio_es=None,
    )
    return _transform_us(ctx, s, plain)


def measure_var_methods_us(ctx: Experiment, s: BenchSettings) -> dict[str, dict[str, float]]:
    """Median µs of the transform per VaR model and correlation rule, and the ratios to the
    default (module doc)."""
    one = replace(s, var_batch_sizes=s.var_batch_sizes[:1])
    b = str(one.var_batch_sizes[0])
    us: dict[str, float] = {}
    variants = [(m, "pairwise") for m in VAR_METHODS] + [("parametric", "weighted")]
    for method, rule in variants:
        risk = replace(ctx.cfg.risk, var_method=method, correlation_rule=rule)
        limits = RiskLimits.from_config(risk, ctx.universe)
        name = method if rule == "pairwise" else f"{method}+{rule}"
        us[name] = _transform_us(ctx, one, limits, var_tape(ctx.features, risk))[b]
    base = us["parametric"]
    return {"us": us, "ratio": {k: v / base for k, v in us.items()}}


def _transform_us(
    ctx: Experiment, s: BenchSettings, limits: RiskLimits, tape: VarTape | None = None
) -> dict[str, float]:
    """The transform's guard (limits, circuit breaker, pre-trade gate) on B books per call."""
    transform = PortfolioRiskTransform(limits, GuardRules.from_config(ctx.cfg.risk), var_tape=tape)
    lo, hi = max(ctx.splits.train[0], ctx.features.valid_from), ctx.splits.train[1]
    out: dict[str, float] = {}
    for b in s.var_batch_sizes:
        rows = torch.arange(b) % (hi - lo) + lo
        cov = ctx.features.cov[rows].float()  # [B, N, N], as the env publishes it
        weights = bench_book(ctx.universe.n, b).float()
        td = TensorDict(
            {
                "target_weights": weights,
                "cov": cov,
                "weights": 0.5 * weights,  # held: half of the target, so every leg trades
                "equity": torch.full((b, 1), ctx.cfg.env.initial_equity, dtype=torch.float64),
                "tradable": ctx.features.tradable[rows],
                "correlation_regime": ctx.features.correlation_regime[rows],
                ROW_KEY: rows,
            },
            batch_size=[b],
        )
        fresh = BreakerState.fresh(b)

        def call(td: TensorDict = td, fresh: BreakerState = fresh) -> object:
            transform.breaker = fresh
            return transform.inv(td.copy())

        start = time.perf_counter()
        call()
        log.info(
            "var_batch B=%d compiled=%s first call %.2f s",
            b,
            limits.compiled,
            time.perf_counter() - start,
        )
        out[str(b)] = per_call_us(call, max(1, s.var_calls // 4), s.repeats, s.warmup)
    return out
