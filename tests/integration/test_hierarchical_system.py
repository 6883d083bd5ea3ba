"""HierarchicalTradingSystem: the plan's helpers, risk scaling, records, no gradients."""

from __future__ import annotations

import torch

from mtquant.agents.hierarchical.communication import CommunicationHub
from mtquant.agents.hierarchical.hierarchical_system import HierarchicalTradingSystem
from mtquant.agents.hierarchical.policy import build_policy
from mtquant.config import compose_config, to_object
from mtquant.execution import Order, PaperBroker, Side
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.limits import RiskLimits, enforce_limits
from mtquant.testing.random_walk import random_walk_features

CFG = to_object(compose_config("train", []))
UNIVERSE = InstrumentUniverse.from_config(CFG.instruments)
FEATURES = random_walk_features(UNIVERSE, n_days=150, seed=5)
LIMITS = RiskLimits.from_config(CFG.risk, UNIVERSE)


def system(policy=None) -> HierarchicalTradingSystem:
    torch.manual_seed(0)
    if policy is None:
        hp = build_policy(CFG.agents, CFG.instruments).eval()
        return HierarchicalTradingSystem(
            hp.meta, dict(hp.specialists), LIMITS, CommunicationHub(), UNIVERSE, CFG.env
        )
    return HierarchicalTradingSystem(None, None, LIMITS, None, UNIVERSE, CFG.env, policy=policy)


def test_helpers_give_the_meta_state_and_each_specialists_inputs() -> None:
    sys_ = system()
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=80)
    md = {"features": FEATURES, "t": 80}
    state = sys_.get_portfolio_state(broker.account(), md)
    assert state.shape == (74,)
    assert torch.equal(state[32:60], FEATURES.correlations[80].float())  # layout: correlations
    parts = sys_.get_specialist_states(md, broker.account())
    assert parts["forex"]["instrument_obs"].shape == (3, 50)
    assert parts["commodities"]["market"].shape == (6,)


def test_step_runs_without_gradients_and_records_decisions_and_allocations() -> None:
    sys_ = system()
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=80)
    for _ in range(5):
        orders = sys_.step(
            {"features": FEATURES, "t": broker.row}, broker.account(), broker.positions()
        )
        broker.submit_orders(orders)
    assert len(sys_.decisions) == 5 and sys_.allocation_changes  # the first allocation is recorded
    d = sys_.decisions[0]
    assert d.allocation is not None and abs(d.allocation.sum().item() - 1) < 1e-5
    assert not d.executed_weights.requires_grad


def test_risk_limits_scale_orders_down_and_the_intervention_is_recorded() -> None:
    def reckless(td):
        td["target_weights"] = torch.full_like(td["vol"], 1.0)  # 8x gross: over every limit
        return td

    sys_ = system(reckless)
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=80)
    md = {"features": FEATURES, "t": 80}
    orders = sys_.step(md, broker.account(), broker.positions())
    assert sys_.risk_interventions and sys_.risk_interventions[0]["scale"] < 1.0
    assert all(o.reason == "risk_scaled" for o in orders)
    executed, _ = enforce_limits(torch.full((1, 8), 1.0), FEATURES.cov[80][None], LIMITS)
    close = FEATURES.close[80]
    eur_units = executed[0, 0].item() * 1e5 / close[0].item()
    eur = next(o for o in orders if o.symbol == "EURUSD")
    assert abs(eur.quantity - eur_units) < 1e-6 * eur_units


def test_scale_down_to_risk_limit_shrinks_an_oversized_order_list() -> None:
    sys_ = system(lambda td: td)
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=80)
    md = {"features": FEATURES, "t": 80}
    big = [Order("SPX500", Side.BUY, 100.0)]  # ~4x equity in one index
    scaled = sys_.scale_down_to_risk_limit(big, broker.account(), md)
    assert len(scaled) == 1 and 0 < scaled[0].quantity < 100.0 and scaled[0].side is Side.BUY
    flattened = sys_.flatten_specialist_actions(
        {
            "forex": torch.zeros(3),
            "commodities": torch.zeros(2),
            "equity": torch.tensor([0.1, 0, 0]),
        },
        broker.account(),
        md,
    )
    assert [o.symbol for o in flattened] == ["SPX500"]
