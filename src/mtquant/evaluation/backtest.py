"""Run one policy deterministically through the environment on a split and record what it did.

:func:`run_strategy` builds the production env (``make_env``: ``MultiInstrumentEnv`` +
``PortfolioRiskTransform``) with one account (``B = 1``) that starts at the first tradable row of
the split (``max(split.start, features.valid_from)``) and runs to the split's last row, acting
with the policy's deterministic action (distribution means, argmax directions). Every strategy,
system or baseline, goes through the same env, costs and risk transform, and, with
``env.target_annual_vol`` set, is scaled to that ex-ante volatility first (:func:`matched`).

Timing (the env's convention): the decision at the close of row ``t`` uses data up to ``t``;
orders fill at row ``t + 1``'s open (close for close-only series) and the book is marked at the
close of ``t + 1``. So day ``t + 1``'s return pairs with the risk transform's *executed* VaR of
the decision made at ``t`` — the ex-ante forecast made with data up to the day before
(``StrategyResult.var_forecasts``).

:func:`measure_decision_latency` times :meth:`HierarchicalTradingSystem.step` (observation,
policy, sizing, risk limits, orders) against a :class:`PaperBroker` on the same split.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from tensordict import TensorDictBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

from mtquant.agents.environments.multi_instrument_env import make_env
from mtquant.agents.vol_target import with_volatility_target
from mtquant.config import RunConfig
from mtquant.errors import DataError
from mtquant.evaluation.results import RiskInterventions, StrategyResult
from mtquant.features.feature_set import FeatureSet
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.correlation_exposure import correlation_from_covariance
from mtquant.risk_management.correlation_tracker import CorrelationTracker
from mtquant.risk_management.guard import ALERTS, PRE_TRADE_REASONS
from mtquant.risk_management.limits import BINDING_NAMES

Policy = Callable[[TensorDictBase], TensorDictBase]
COST_KEYS = {"spread": "spread_cost", "commission": "commission", "slippage": "slippage",
             "swap": "swap"}  # fmt: skip


def first_trading_row(features: FeatureSet, split: tuple[int, int]) -> int:
    """First row an account can decide on: the split start once every feature is warm."""
    first = max(split[0], features.valid_from)
    if first > split[1] - 2:
        raise DataError(
            f"split rows {split} ({features.dates[split[0]].date()}.."
            f"{features.dates[split[1] - 1].date()}): no tradable day after the feature warm-up "
            f"(features valid from row {features.valid_from})"
        )
    return first


def evaluation_config(cfg: RunConfig, cost_multiplier: float | None = None) -> RunConfig:
    """``cfg`` with the env's costs scaled by ``cost_multiplier`` (relative to the config's)."""
    if cost_multiplier is None:
        return cfg
    if not np.isfinite(cost_multiplier) or cost_multiplier < 0:
        raise DataError(f"cost_multiplier must be a finite number >= 0, got {cost_multiplier!r}")
    env = replace(cfg.env, cost_multiplier=cfg.env.cost_multiplier * cost_multiplier)
    return replace(cfg, env=env)


def matched(cfg: RunConfig, features: FeatureSet, policy: Policy) -> Policy:
    """``policy`` at ``env.target_annual_vol`` when it is set (:mod:`mtquant.agents.vol_target`)."""
    env = cfg.env
    return with_volatility_target(
        policy, features.ewma_cov, env.target_annual_vol, env.max_gross_weight
    )


def rollout(
    cfg: RunConfig, features: FeatureSet, split: tuple[int, int], policy: Policy
) -> TensorDictBase:
    """One deterministic episode of ``policy`` from the split's first tradable row to its end.

    Returns the rollout ``[T]`` (batch dim of the single account removed).
    """
    start = first_trading_row(features, split)
    steps = split[1] - 1 - start
    policy = matched(cfg, features, policy)
    env = make_env(
        cfg, features, split, batch_size=1, device="cpu", seed=cfg.seed,
        episode_length=steps, start_rows=[start],
    )  # fmt: skip
    with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        td = env.rollout(steps, policy, break_when_any_done=True)
    return td[0]


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().to(torch.float64).cpu().numpy()


def result_from_rollout(
    td: TensorDictBase,
    features: FeatureSet,
    universe: InstrumentUniverse,
    name: str,
    initial_equity: float,
    hierarchical: bool = False,
) -> StrategyResult:
    """A :class:`StrategyResult` from a rollout ``[T]`` of the transformed env (module doc).

    ``hierarchical`` also records the meta-controller's allocation and appetite.
    ``correlation_matrices[t]`` is the correlation of the ``cov`` observation of the decision
    row (the covariance of daily returns over ``risk.var_window`` days that the transform used
    on the book held over day t). ``var_forecasts``, ``var_forecasts_99`` and ``es_forecasts``
    are the transform's ex-ante VaR, 99% VaR and ES of the executed book under
    ``risk.var_method``.
    """
    nxt = td["next"]
    rows = nxt["info", "date_index"].cpu().numpy()
    equity = _np(nxt["info", "equity"])
    prev = np.concatenate([[initial_equity], equity[:-1]])
    returns = np.where(prev > 0, equity / np.where(prev > 0, prev, 1.0) - 1.0, 0.0)
    costs = {c: _np(nxt["info", key]).sum(-1) for c, key in COST_KEYS.items()}
    binding = nxt["risk", "binding"].cpu().numpy()
    counts = {
        BINDING_NAMES[k]: int((binding == k).sum())
        for k in range(1, len(BINDING_NAMES))
        if (binding == k).any()
    }
    executed_var = _np(nxt["risk", "executed_var"])
    alert = nxt["risk", "alert"].cpu().numpy()
    rejected = nxt["risk", "rejected"].cpu().numpy()
    interventions = RiskInterventions(
        counts,
        _np(nxt["risk", "proposed_var"]),
        executed_var,
        alert_counts=_code_counts(alert, ALERTS),
        breaker_days=int(nxt["risk", "breaker_on"].sum()),
        rejected_counts=_code_counts(rejected, PRE_TRADE_REASONS),
    )
    extra: dict[str, Any] = {}
    if hierarchical:
        extra = {
            "allocations": _np(td["action", "allocation"]),
            "appetite": _np(td["action", "appetite"]).reshape(-1),
            "specialists": list(universe.specialists),
        }
    return StrategyResult(
        name=name,
        dates=features.dates[rows].values.astype("datetime64[D]"),
        returns=returns,
        equity=equity,
        weights=_np(nxt["weights"]),
        costs=costs,
        initial_equity=float(initial_equity),
        symbols=universe.symbols,
        sectors=[i.sector for i in universe.instruments],
        var_forecasts=executed_var,
        var_forecasts_99=_np(nxt["risk", "executed_var99"]),
        es_forecasts=_np(nxt["risk", "executed_es"]),
        interventions=interventions,
        correlation_exposure=_np(nxt["risk", "correlation_exposure"]),
        correlation_matrices=correlation_from_covariance(_np(td["cov"])),
        groups=[i.specialist for i in universe.instruments],
        **extra,
    )


def _code_counts(codes: np.ndarray, names: tuple[str, ...]) -> dict[str, int]:
    """``{name: occurrences}`` of the non-zero codes (0 = none) of ``codes``."""
    return {names[k]: int((codes == k).sum()) for k in range(1, len(names)) if (codes == k).any()}


def run_strategy(
    cfg: RunConfig,
    features: FeatureSet,
    split: tuple[int, int],
    policy: Policy,
    name: str,
    *,
    cost_multiplier: float | None = None,
    hierarchical: bool = False,
) -> StrategyResult:
    """Run ``policy`` (writes ``target_weights``) deterministically on ``split``; see module doc."""
    ecfg = evaluation_config(cfg, cost_multiplier)
    universe = InstrumentUniverse.from_config(ecfg.instruments)
    td = rollout(ecfg, features, split, policy)
    return result_from_rollout(
        td, features, universe, name, ecfg.env.initial_equity, hierarchical=hierarchical
    )


def return_correlation(features: FeatureSet, split: tuple[int, int]) -> CorrelationTracker:
    """A :class:`CorrelationTracker` holding the instruments' daily USD returns of the split's
    rows (its window is the whole period): the report draws its heatmap."""
    start = first_trading_row(features, split)
    r = features.returns[start : split[1]].to(torch.float64).numpy()
    tracker = CorrelationTracker(list(features.symbols), window=max(2, len(r)))
    tracker.extend(r)
    return tracker


def measure_decision_latency(
    cfg: RunConfig,
    features: FeatureSet,
    split: tuple[int, int],
    policy: Policy,
    n_decisions: int = 60,
    warmup: int = 5,
) -> dict[str, float]:
    """Wall-clock time of ``HierarchicalTradingSystem.step()`` per decision, in ms.

    The system runs as in paper trading, with the communication hub of ``agents.communication``.
    Runs ``warmup + n_decisions`` decisions (at most the split's length) from the split's first
    tradable row against a :class:`PaperBroker`; the warm-up calls are not timed. Returns
    ``{"median_ms", "p95_ms", "max_ms", "n"}`` over the timed calls (one thread, CPU).
    """
    from mtquant.agents.hierarchical.communication import CommunicationHub
    from mtquant.agents.hierarchical.hierarchical_system import HierarchicalTradingSystem
    from mtquant.execution.paper_broker import PaperBroker
    from mtquant.risk_management.portfolio_risk_manager import PortfolioRiskManager

    universe = InstrumentUniverse.from_config(cfg.instruments)
    start = first_trading_row(features, split)
    total = min(warmup + n_decisions, split[1] - 1 - start)
    if total <= warmup:
        raise DataError(f"split rows {split}: too short to time {n_decisions} decisions")
    hub = CommunicationHub.from_config(cfg.agents.communication)  # messaging as in live trading
    system = HierarchicalTradingSystem(
        None, None, PortfolioRiskManager(cfg.risk, universe, cfg.env.rebalance_band), hub, universe, cfg.env,
        policy=matched(cfg, features, policy),
    )  # fmt: skip
    broker = PaperBroker(features, universe, cfg.env, cfg.risk, start_row=start, stop_row=split[1])
    times: list[float] = []
    for k in range(total):
        market = {"features": features, "t": broker.row}
        account, positions = broker.account(), broker.positions()
        t0 = time.perf_counter()
        orders = system.step(market, account, positions)
        elapsed = time.perf_counter() - t0
        if k >= warmup:
            times.append(1000.0 * elapsed)
        broker.submit_orders(orders)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[min(len(times) - 1, int(np.ceil(0.95 * len(times))) - 1)],
        "max_ms": times[-1],
        "n": float(len(times)),
    }
