"""``decision_latency_ms``: one ``HierarchicalTradingSystem.step()`` at batch 1.

Timed from the call with the market data at row ``t`` (the precomputed causal features and the
row index) and the broker's account to the approved order list: observation, meta-controller,
specialists, sizing, ``enforce_limits`` (every risk layer), orders, the communication hub and
the decision records. The :class:`~mtquant.execution.paper_broker.PaperBroker` then fills the
orders (not timed) so that positions, equity and the risk checks evolve as in paper trading.
The policy is a freshly initialised :func:`build_policy` in eval mode (weights do not change
the cost of a forward pass). Figures are p50 / p99 of single-call latencies.
"""

from __future__ import annotations

import time

import torch

from mtquant.agents.hierarchical.communication import CommunicationHub
from mtquant.agents.hierarchical.hierarchical_system import HierarchicalTradingSystem
from mtquant.agents.hierarchical.policy import build_policy
from mtquant.bench.settings import BenchSettings
from mtquant.bench.timing import latency_percentiles
from mtquant.execution import PaperBroker
from mtquant.experiment import Experiment
from mtquant.risk_management.portfolio_risk_manager import PortfolioRiskManager


def build_system(ctx: Experiment) -> HierarchicalTradingSystem:
    """The inference system of the config's agents, limits and hub (seeded initial weights)."""
    cfg = ctx.cfg
    torch.manual_seed(cfg.seed)
    policy = build_policy(cfg.agents, cfg.instruments, features=ctx.features).eval()
    return HierarchicalTradingSystem(
        policy.meta,
        dict(policy.specialists),
        PortfolioRiskManager(cfg.risk, ctx.universe, cfg.env.rebalance_band),
        CommunicationHub.from_config(cfg.agents.communication),
        ctx.universe,
        cfg.env,
        policy=policy,
    )


def decision_latencies(ctx: Experiment, decisions: int, warmup: int) -> list[float]:
    """Seconds of ``warmup + decisions`` consecutive ``step()`` calls; the warm-up ones dropped."""
    system = build_system(ctx)
    first = max(ctx.splits.train[0], ctx.features.valid_from)
    stop = ctx.splits.train[1]

    def new_broker() -> PaperBroker:
        return PaperBroker(ctx.features, ctx.universe, ctx.cfg.env, ctx.cfg.risk, first, stop)

    broker, samples = new_broker(), []
    for _ in range(warmup + decisions):
        if broker.terminated or broker.row + 1 >= stop:
            broker = new_broker()
            system.reset_account()
        market_data = {"features": ctx.features, "t": broker.row}
        account, positions = broker.account(), broker.positions()
        start = time.perf_counter()
        orders = system.step(market_data, account, positions)
        samples.append(time.perf_counter() - start)
        broker.submit_orders(orders)
    return samples[warmup:]


def measure_decision_latency(ctx: Experiment, s: BenchSettings) -> dict[str, float]:
    """``{"p50": ms, "p99": ms}`` of ``step()`` (module doc)."""
    return latency_percentiles(decision_latencies(ctx, s.latency_decisions, max(s.warmup, 5)))
