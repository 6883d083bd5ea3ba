"""HierarchicalTradingSystem: the plan's helpers, risk scaling, records, no gradients, and the
cycle's direct policy path (``HierarchicalPolicy.act``) equal to the tensordict forward."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
from tensordict import TensorDict, TensorDictBase

from mtquant.agents.environments.observations import FeatureTape, observe
from mtquant.agents.hierarchical.communication import CommunicationHub
from mtquant.agents.hierarchical.hierarchical_system import HierarchicalTradingSystem
from mtquant.agents.hierarchical.policy import HierarchicalPolicy, build_policy
from mtquant.config import compose_config, to_object
from mtquant.execution import Order, PaperBroker, Side
from mtquant.features.risk_inputs import var_tape
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.limits import enforce_limits
from mtquant.risk_management.portfolio_risk_manager import PortfolioRiskManager
from mtquant.testing.random_walk import random_walk_features

CFG = to_object(compose_config("train", []))
UNIVERSE = InstrumentUniverse.from_config(CFG.instruments)
FEATURES = random_walk_features(UNIVERSE, n_days=150, seed=5)
LIMITS = PortfolioRiskManager(CFG.risk, UNIVERSE)


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
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=120)
    md = {"features": FEATURES, "t": 120}
    state = sys_.get_portfolio_state(broker.account(), md)
    assert state.shape == (74,)
    assert torch.equal(state[32:60], FEATURES.correlations[120].float())  # layout: correlations
    parts = sys_.get_specialist_states(md, broker.account())
    assert parts["forex"]["instrument_obs"].shape == (3, 50)
    assert parts["commodities"]["market"].shape == (6,)


def test_step_runs_without_gradients_and_records_decisions_and_allocations() -> None:
    sys_ = system()
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=120)
    for _ in range(5):
        orders = sys_.step(
            {"features": FEATURES, "t": broker.row}, broker.account(), broker.positions()
        )
        broker.submit_orders(orders)
    assert len(sys_.decisions) == 5 and sys_.allocation_changes  # the first allocation is recorded
    d = sys_.decisions[0]
    assert d.allocation is not None and abs(d.allocation.sum().item() - 1) < 1e-5
    assert not d.executed_weights.requires_grad
    assert not d.executed_weights.is_inference()  # an ordinary tensor outside the cycle


def test_risk_limits_scale_orders_down_and_the_intervention_is_recorded() -> None:
    def reckless(td):
        td["target_weights"] = torch.full_like(td["vol"], 1.0)  # 8x gross: over every limit
        return td

    sys_ = system(reckless)
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=120)
    md = {"features": FEATURES, "t": 120}
    orders = sys_.step(md, broker.account(), broker.positions())
    assert sys_.risk_interventions and sys_.risk_interventions[0]["scale"] < 1.0
    assert all(o.reason == "risk_scaled" for o in orders)
    inputs = var_tape(FEATURES, CFG.risk).inputs(torch.tensor([120]))  # the enforced model's
    executed, _ = enforce_limits(
        torch.full((1, 8), 1.0), FEATURES.cov[120][None], LIMITS.limits, inputs
    )
    close = FEATURES.close[120]
    eur_units = executed[0, 0].item() * 1e5 / close[0].item()
    eur = next(o for o in orders if o.symbol == "EURUSD")
    assert abs(eur.quantity - eur_units) < 1e-6 * eur_units


def test_scale_down_to_risk_limit_shrinks_an_oversized_order_list() -> None:
    sys_ = system(lambda td: td)
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=120)
    md = {"features": FEATURES, "t": 120}
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


@pytest.mark.parametrize(("fixed", "mode"), [(False, "mean"), (False, "mode"), (True, "mean")])
def test_policy_act_is_the_deterministic_forward_bit_for_bit(fixed: bool, mode: str) -> None:
    torch.manual_seed(0)
    policy = build_policy(CFG.agents, CFG.instruments, fixed_allocation=fixed).eval()
    policy.position_mode = mode
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=120)
    state = system().kernel_state(broker.account(), 120)
    obs = observe(state, FeatureTape.build(FEATURES, UNIVERSE, "cpu"))
    with torch.inference_mode():
        act = policy.act(obs["meta_state"], obs["market"], obs["instrument_obs"])
        td = policy(TensorDict(obs, batch_size=[1]), deterministic=True)
    assert torch.equal(act.allocation, td["action", "allocation"])
    assert torch.equal(act.appetite, td["action", "appetite"])
    assert torch.equal(act.direction, td["action", "direction"])
    assert torch.equal(act.position, td["action", "position"])
    assert torch.equal(act.specialist_entropy, td["entropy", "specialists"])


def run_days(sys_: HierarchicalTradingSystem, days: int = 20) -> list[list[Order]]:
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=120)
    out = []
    for _ in range(days):
        orders = sys_.step({"features": FEATURES, "t": broker.row}, broker.account())
        broker.submit_orders(orders)
        out.append(orders)
    return out


def test_step_through_act_equals_step_through_the_tensordict_forward(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bare policy and ``with_sizing`` run through ``act``; a wrapper that hides the policy
    runs through its tensordict forward: same orders, decisions and reports, bit for bit."""
    torch.manual_seed(0)
    policy = build_policy(CFG.agents, CFG.instruments).eval()
    sized = policy.with_sizing(CFG.env.sizing_target_vol, CFG.env.max_gross_weight)

    def wrapped(td: TensorDictBase) -> TensorDictBase:
        return sized(td)

    forward, forwards = HierarchicalPolicy.forward, []

    def counted(self: HierarchicalPolicy, td: TensorDictBase, *args: object) -> TensorDictBase:
        forwards[-1] += 1
        return forward(self, td, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(HierarchicalPolicy, "forward", counted)
    runs = []
    for actor in (policy, sized, wrapped):
        forwards.append(0)
        sys_ = HierarchicalTradingSystem(
            None, None, LIMITS, CommunicationHub(), UNIVERSE, CFG.env, policy=actor
        )
        orders = run_days(sys_)
        decisions = [
            (d.binding, d.n_orders, d.appetite, d.executed_weights.tolist(), d.direction.tolist())
            for d in sys_.decisions
        ]
        messages = [  # allocations and reports; correlation ids are random
            {k: v for k, v in asdict(m).items() if k != "correlation_id"} for m in sys_.hub.history
        ]
        runs.append((orders, decisions, messages))
    assert sum(len(o) for o in runs[0][0]) > 0 and len(runs[0][2]) == 20 * 6
    assert runs[0] == runs[1] == runs[2]
    assert forwards == [0, 0, 20]  # act for the policy and with_sizing, forward for the wrapper


def test_a_policy_with_forward_hooks_is_run_through_its_forward() -> None:
    torch.manual_seed(0)
    policy = build_policy(CFG.agents, CFG.instruments).eval()
    calls = []
    policy.register_forward_hook(lambda module, args, out: calls.append(1))
    sys_ = HierarchicalTradingSystem(None, None, LIMITS, None, UNIVERSE, CFG.env, policy=policy)
    run_days(sys_, days=3)
    assert len(calls) == 3
