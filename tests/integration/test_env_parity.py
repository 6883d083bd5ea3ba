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
from mtquant.risk_management.limits import RiskLimits
from mtquant.testing.random_walk import random_walk_features

DAYS, START = 250, 70


def run_parity(policy, sized_policy, use_hub: bool) -> int:
    """Run both paths for DAYS days; the number of days on which a risk limit bound."""
    cfg = to_object(compose_config("train", []))
    universe = InstrumentUniverse.from_config(cfg.instruments)
    features = random_walk_features(universe, n_days=DAYS + START + 5, seed=11)
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
        RiskLimits.from_config(cfg.risk, universe),
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
        broker.submit_orders(orders)
        assert broker.account().equity == pytest.approx(env_equity[day], rel=1e-9, abs=1e-9)
        assert torch.allclose(broker.state.units[0], env_units[day], rtol=1e-9, atol=1e-9)
    assert len(system.decisions) == DAYS
    n_orders = sum(d.n_orders for d in system.decisions)
    assert n_orders > 0  # the policy trades: parity is not trivially about a flat book
    if use_hub:  # each cycle: allocations down and reports up, one per specialist, one id
        last = list(hub.history)[-6:]
        assert [type(m) for m in last] == [AllocationMessage] * 3 + [PerformanceReport] * 3
        assert len({m.correlation_id for m in last}) == 1
        assert sorted(m.specialist_id for m in last[3:]) == ["commodities", "equity", "forex"]
    return sum(d.binding != "none" for d in system.decisions)


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

    binding = run_parity(oversized, oversized, use_hub=False)
    assert binding > 100  # the limits do bind: this is about the scaled path
