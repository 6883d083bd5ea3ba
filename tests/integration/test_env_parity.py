"""The env and step() + PaperBroker agree: same data, same policy -> same positions and equity."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDictBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

from mtquant.agents.environments.multi_instrument_env import make_env
from mtquant.agents.hierarchical.communication import (
    AllocationMessage,
    CommunicationHub,
    PerformanceReport,
)
from mtquant.agents.hierarchical.hierarchical_system import HierarchicalTradingSystem
from mtquant.agents.hierarchical.policy import build_policy
from mtquant.config import compose_config, to_object
from mtquant.execution import PaperBroker
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.portfolio_risk_manager import PortfolioRiskManager
from mtquant.testing.random_walk import random_walk_features

DAYS, START = 250, 110  # START >= the features' valid_from (100)


def run_parity(
    policy, sized_policy, use_hub: bool, overrides: tuple[str, ...] = (), market=None
) -> HierarchicalTradingSystem:
    """Run both paths for DAYS days (``market`` edits the features first); the system after."""
    cfg = to_object(compose_config("train", list(overrides)))
    universe = InstrumentUniverse.from_config(cfg.instruments)
    features = random_walk_features(universe, n_days=DAYS + START + 5, seed=11)
    if market is not None:
        market(features)
    split = (0, features.n_days)

    env = make_env(
        cfg, features, split, batch_size=1, seed=0, episode_length=DAYS + 1, start_rows=[START]
    )
    env_equity, env_units = [], []
    with torch.inference_mode(), set_exploration_type(ExplorationType.DETERMINISTIC):
        td = env.reset()
        for _ in range(DAYS):
            td = sized_policy(td)
            td = env.step(td)["next"]
            env_equity.append(td["info", "equity"][0].item())
            env_units.append(env.base_env.state.units[0].clone())
            assert not td["done"].any()

    hub = CommunicationHub() if use_hub else None
    system = HierarchicalTradingSystem(
        None,
        None,
        PortfolioRiskManager(cfg.risk, universe, cfg.env.rebalance_band),
        hub,
        universe,
        cfg.env,
        policy=policy,
    )
    broker = PaperBroker(features, universe, cfg.env, cfg.risk, start_row=START)
    for day in range(DAYS):
        orders = system.step(
            {"features": features, "t": broker.row}, broker.account(), broker.positions()
        )
        assert broker.submit_orders(orders).rejected == []  # step() already gated them
        assert broker.account().equity == pytest.approx(env_equity[day], rel=1e-9, abs=1e-9)
        assert torch.allclose(broker.state.units[0], env_units[day], rtol=1e-9, atol=1e-9)
    assert len(system.decisions) == DAYS
    n_orders = sum(d.n_orders for d in system.decisions)
    assert n_orders > 0  # the policy trades: parity is not trivially about a flat book
    if use_hub and system.decisions[-1].allocation is not None:
        # each cycle: allocations down and reports up, one per specialist, one id
        cycle_id = list(hub.history)[-1].correlation_id
        cycle = [m for m in hub.history if m.correlation_id == cycle_id]
        last = [m for m in cycle if isinstance(m, AllocationMessage | PerformanceReport)]
        assert [type(m) for m in last] == [AllocationMessage] * 3 + [PerformanceReport] * 3
        assert sorted(m.specialist_id for m in last[3:]) == ["commodities", "equity", "forex"]
    return system


@pytest.mark.parametrize("system_sizes", [False, True])
def test_hierarchical_policy_step_and_paper_broker_match_the_env_for_250_days(
    system_sizes: bool,
) -> None:
    """The collector's ``with_sizing`` policy, or the bare policy sized by the system itself."""
    cfg = to_object(compose_config("train", []))
    torch.manual_seed(0)
    policy = build_policy(cfg.agents, cfg.instruments).eval()
    sized = policy.with_sizing(cfg.env.sizing_target_vol, cfg.env.max_gross_weight)
    run_parity(policy if system_sizes else sized, sized, use_hub=True)


def test_fixed_weight_rule_step_and_paper_broker_match_the_env_for_250_days() -> None:
    """A deterministic function of the observation (no network) through both paths."""

    def rule(td: TensorDictBase) -> TensorDictBase:
        signal = td["instrument_obs"][..., 0]  # [B, N]
        td["target_weights"] = 0.02 * torch.tanh(signal) / td["vol"].clamp_min(1e-4) / 8
        return td

    run_parity(rule, rule, use_hub=False)


def test_binding_limits_step_and_paper_broker_match_the_env_for_250_days() -> None:
    """An oversized rule: the VaR / gross layers bind on most days and both paths scale the
    book the same way (limits in float64, executed weights back in the policy's float32)."""

    def oversized(td: TensorDictBase) -> TensorDictBase:
        signal = td["instrument_obs"][..., 0]  # [B, N]
        td["target_weights"] = 0.5 * torch.tanh(signal) / td["vol"].clamp_min(1e-4) / 8
        return td

    system = run_parity(oversized, oversized, use_hub=False)
    binding = sum(d.binding != "none" for d in system.decisions)
    assert binding > 100  # the limits do bind: this is about the scaled path


@pytest.mark.parametrize(
    ("method", "rule"), [("fhs", "weighted"), ("ewma", "pairwise"), ("auto", "weighted")]
)
def test_every_var_model_and_correlation_rule_match_between_env_and_step(
    method: str, rule: str
) -> None:
    """The enforced VaR model (its inputs gathered by decision row) and the correlation rule
    decide the same in the env's transform and in step(), with the limits binding."""

    def oversized(td: TensorDictBase) -> TensorDictBase:
        signal = td["instrument_obs"][..., 0]  # [B, N]
        td["target_weights"] = 0.5 * torch.tanh(signal) / td["vol"].clamp_min(1e-4) / 8
        return td

    system = run_parity(
        oversized, oversized, use_hub=False,
        overrides=(f"risk.var_method={method}", f"risk.correlation_rule={rule}",
                   "risk.max_correlation_exposure=0.3", "risk.max_portfolio_es=0.025",
                   "risk.var_window=60"),  # the random-walk features start at row 60
    )  # fmt: skip
    assert sum(d.binding != "none" for d in system.decisions) > 100


@pytest.mark.parametrize("response", ["scale", "flatten"])
def test_circuit_breaker_and_pre_trade_gate_act_the_same_in_env_and_step(response: str) -> None:
    """Shut markets refuse orders, and the breaker trips on drawdown, VaR-breach streaks and
    correlation spikes, identically in the env's risk transform and in step() + the broker."""

    def rule(td: TensorDictBase) -> TensorDictBase:
        signal = td["instrument_obs"][..., 0]  # [B, N]
        td["target_weights"] = 0.1 * torch.tanh(signal) / td["vol"].clamp_min(1e-4) / 8
        return td

    def shut_markets_and_spikes(features) -> None:
        rows = torch.arange(START + 3, START + DAYS, 17)
        features.tradable[rows, 1] = False  # GBPUSD shut every 17 days
        features.tradable[rows + 5, 5] = False  # SPX500 too, on other days
        features.correlation_regime[torch.arange(START + 40, START + DAYS, 61)] = 1  # spikes

    system = run_parity(
        rule, rule, use_hub=True,
        overrides=("risk.max_drawdown=0.04", "risk.breaker_var_streak=1",
                   f"risk.breaker_response={response}", "risk.breaker_cooldown_days=3"),
        market=shut_markets_and_spikes,
    )  # fmt: skip
    triggers = {d.alert for d in system.decisions}
    assert len(triggers - {"none"}) >= 2  # the breaker tripped, on more than one trigger
    spikes = range(START + 40, START + DAYS, 61)
    assert all(d.breaker_on for d in system.decisions if d.row in spikes)
    assert sum(d.breaker_on for d in system.decisions) > 10
    refused = [r for d in system.decisions for r in d.rejected.items()]
    assert "no_price" in {why for _, why in refused}  # shut markets; a stuck leg can also
    assert {sym for sym, why in refused if why == "no_price"} <= {"GBPUSD", "SPX500"}  # cap
    # the book's gross, refusing the orders that would add to it: both paths alike
    alerts = [m for m in system.hub.history if getattr(m, "signal_type", "") == "circuit_breaker"]
    rows = [m.data["row"] for m in alerts]  # the hub keeps its last 1000 messages
    assert rows == [d.row for d in system.decisions if d.alert != "none" and d.row >= rows[0]]
