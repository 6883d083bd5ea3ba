"""CommunicationHub: messages, bounded history, queries, coordination rules, errors; the
decision cycle's messaging (allocation broadcast, performance reports)."""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import torch

from mtquant.agents.environments.observations import FeatureTape, observe
from mtquant.agents.hierarchical.communication import (
    AllocationMessage,
    CommunicationHub,
    CoordinationSignal,
    PerformanceReport,
)
from mtquant.agents.hierarchical.meta_controller import market_regime
from mtquant.agents.hierarchical.specialist_reports import (
    SpecialistLayout,
    SpecialistMessenger,
    performance_reports,
)
from mtquant.config import compose_config, to_object
from mtquant.config.agents import CommunicationConfig
from mtquant.errors import DataError
from mtquant.execution.kernel import KernelState, specialist_metrics
from mtquant.execution.orders import Position
from mtquant.features.layout import PortfolioStateLayout
from mtquant.instruments import InstrumentUniverse
from mtquant.testing.random_walk import random_walk_features

NAMES = ["forex", "commodities", "equity"]
REPORT = {
    "confidence_score": 0.7,
    "realized_pnl": 120.0,
    "unrealized_pnl": -5.0,
    "sharpe_ratio": 1.1,
    "win_rate": 0.55,
    "risk_utilization": 0.8,
}


def test_send_allocation_one_message_per_specialist_with_shared_correlation_id() -> None:
    hub = CommunicationHub()
    msgs = hub.send_allocation([0.5, 0.3, 0.2], NAMES, risk_appetite=0.6, market_regime="bull")
    assert [m.specialist_id for m in msgs] == NAMES
    assert [m.allocation for m in msgs] == [0.5, 0.3, 0.2]
    assert len({m.correlation_id for m in msgs}) == 1 and msgs[0].correlation_id
    assert hub.query(AllocationMessage, recipient="commodities")[0].allocation == 0.3


@pytest.mark.parametrize(
    ("alloc", "appetite", "regime", "match"),
    [
        ([0.5, 0.5], 0.5, "bull", "2 allocations for 3"),
        ([0.6, 0.6, -0.2], 0.5, "bull", "simplex"),
        ([0.2, 0.2, 0.2], 0.5, "bull", "simplex"),
        ([0.4, 0.3, 0.3], 1.5, "bull", "risk_appetite"),
        ([0.4, 0.3, 0.3], 0.5, "sideways", "market_regime"),
    ],
)
def test_send_allocation_rejects_bad_values(
    alloc: list[float], appetite: float, regime: str, match: str
) -> None:
    with pytest.raises(DataError, match=match):
        CommunicationHub().send_allocation(alloc, NAMES, appetite, regime)


def test_collect_reports_from_fields_and_errors() -> None:
    hub = CommunicationHub()
    reports = hub.collect_reports({"forex": REPORT, "equity": REPORT}, correlation_id="c1")
    assert [r.specialist_id for r in reports] == ["forex", "equity"]
    assert reports[0].sharpe_ratio == 1.1 and reports[0].correlation_id == "c1"
    assert len(hub.query(PerformanceReport, sender="equity", correlation_id="c1")) == 1
    with pytest.raises(DataError, match="lacks \\['win_rate'"):
        hub.collect_reports({"forex": {k: v for k, v in REPORT.items() if k != "win_rate"}})
    with pytest.raises(DataError, match="confidence_score=1.5"):
        hub.collect_reports({"forex": {**REPORT, "confidence_score": 1.5}})


def test_history_is_bounded_and_keeps_the_newest() -> None:
    hub = CommunicationHub.from_config(CommunicationConfig(message_history_size=5))
    for k in range(4):
        hub.send_allocation([1 / 3] * 3, NAMES, 0.5, "neutral", correlation_id=f"c{k}")
    assert len(hub.history) == 5
    assert [m.correlation_id for m in hub.history] == ["c2", "c2", "c3", "c3", "c3"]
    with pytest.raises(DataError, match="message_history_size=0"):
        CommunicationHub(message_history_size=0)


def test_query_by_time_range() -> None:
    hub = CommunicationHub()
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    hub.send_allocation([1, 0, 0], NAMES, 0.5, "bear", timestamp=t0)
    hub.send_allocation([0, 1, 0], NAMES, 0.5, "bear", timestamp=t0 + timedelta(days=2))
    assert len(hub.query(since=t0 + timedelta(days=1))) == 3
    assert len(hub.query(until=t0)) == 3
    assert hub.query(AllocationMessage, sender="meta_controller", until=t0)[0].allocation == 1.0


def test_broadcast_alert_is_recorded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    hub = CommunicationHub()
    with caplog.at_level(logging.WARNING, logger="mtquant.agents.communication"):
        sig = hub.broadcast_alert("circuit_breaker", {"drawdown": 0.2})
    assert sig.from_specialist == "system" and sig.to_specialist == "all"
    assert hub.query(CoordinationSignal, recipient="all") == [sig]
    assert "circuit_breaker" in caplog.text
    with pytest.raises(DataError, match="alert_type"):
        hub.broadcast_alert("", {})


def test_log_all_messages(caplog: pytest.LogCaptureFixture) -> None:
    hub = CommunicationHub(log_all_messages=True)
    with caplog.at_level(logging.INFO, logger="mtquant.agents.communication"):
        hub.send_allocation([1, 0, 0], NAMES, 0.5, "bull", correlation_id="trace-7")
    assert caplog.text.count("trace-7") == 3


def test_coordination_hedge_and_correlation_alert() -> None:
    symbols = ["EURUSD", "XAUUSD", "SPX500", "NAS100"]
    rho = np.eye(4)
    rho[0, 1] = rho[1, 0] = 0.8  # EURUSD ~ gold
    rho[2, 3] = rho[3, 2] = 0.9  # same specialist: never a cross-specialist signal
    rho[1, 2] = rho[2, 1] = 0.75  # gold ~ SPX
    exposures = {
        "forex": {"EURUSD": 0.5},
        "commodities": {"XAUUSD": -0.3},
        "equity": {"SPX500": -0.2, "NAS100": 0.4},
    }
    signals = CommunicationHub().check_coordination_opportunities(exposures, rho, symbols)
    kinds = {
        (s.signal_type, s.from_specialist, s.to_specialist, s.data["symbols"]) for s in signals
    }
    # EURUSD long vs gold short, rho 0.8: effective -0.8 -> hedge; gold short & SPX short, 0.75 -> alert
    assert kinds == {
        ("hedge_opportunity", "forex", "commodities", ("EURUSD", "XAUUSD")),
        ("correlation_alert", "commodities", "equity", ("XAUUSD", "SPX500")),
    }
    with pytest.raises(DataError, match="unknown 'BTC'"):
        CommunicationHub().check_coordination_opportunities({"forex": {"BTC": 1.0}}, rho, symbols)


def test_send_allocation_takes_floats_arrays_and_nested_sequences_alike() -> None:
    hub = CommunicationHub()
    shares = [0.5, 0.3, 0.2]
    for allocation in (
        shares,
        np.array([shares]),
        [np.float64(a) for a in shares],
        (0.5, 0.3, 0.2),
    ):
        msgs = hub.send_allocation(allocation, NAMES, 0.5, "neutral")
        assert [m.allocation for m in msgs] == shares
        assert all(type(m.allocation) is float for m in msgs)
    with pytest.raises(DataError, match="simplex"):
        hub.send_allocation([float("nan"), -0.5, 1.5], NAMES, 0.5, "neutral")


# ---------------------------------------------------------------- the decision cycle's messaging
UNIVERSE = InstrumentUniverse.from_config(to_object(compose_config("train", [])).instruments)
LAYOUT = SpecialistLayout(UNIVERSE, target_vol=0.01)  # forex: 3 legs, commodities: 2, equity: 3


def account(m1: list[float], m2: list[float], hit: list[float], row: int = 70) -> KernelState:
    """A flat B = 1 account of 1e5 USD at ``row`` with the given specialist EWMA statistics."""
    state = KernelState.initial(torch.tensor([row]), UNIVERSE.n, 3, 1e5)
    f64 = torch.float64
    return replace(
        state,
        spec_m1=torch.tensor([m1], dtype=f64),
        spec_m2=torch.tensor([m2], dtype=f64),
        spec_hit=torch.tensor([hit], dtype=f64),
    )


def reports_of(state: KernelState, **cycle: object) -> dict[str, dict[str, float]]:
    args: dict[str, object] = {
        "positions": [],
        "executed": torch.zeros(1, 8),
        "vol": torch.full((1, 8), 0.01),
        "allocation": None,
        "appetite": None,
        "entropy": None,
    }
    args.update(cycle)
    return performance_reports(
        LAYOUT,
        specialist_metrics(state),
        state.spec_m1,
        1e5,
        **args,  # type: ignore[arg-type]
    )


def test_report_sharpe_and_win_rate_are_the_meta_states_specialist_metrics() -> None:
    # forex: an ordinary EWMA; commodities: no dispersion (Sharpe clipped to +10); equity: losing
    m1, m2, hit = [4e-4, 1e-3, -2e-4], [1.6e-5, 1e-6, 9e-6], [0.55, 1.0, 0.4]
    state = account(m1, m2, hit)
    reports = reports_of(state)
    sharpe = [reports[n]["sharpe_ratio"] for n in LAYOUT.names]
    assert sharpe[1] == 10.0 and sharpe[2] < 0.0
    expected = m1[0] / (math.sqrt(m2[0] - m1[0] ** 2) + 1e-8) * math.sqrt(252)
    assert sharpe[0] == pytest.approx(expected, rel=1e-14)  # torch's sqrt: within an ulp or two
    assert [reports[n]["win_rate"] for n in LAYOUT.names] == hit
    assert [reports[n]["realized_pnl"] for n in LAYOUT.names] == [m * 1e5 for m in m1]
    # the same numbers the meta-controller reads (its state holds them as float32)
    tape = FeatureTape.build(random_walk_features(UNIVERSE, n_days=80, seed=1), UNIVERSE, "cpu")
    meta = observe(state, tape)["meta_state"]
    slots = meta[0, PortfolioStateLayout(8, 3).specialist_metrics].reshape(3, 3)
    assert torch.equal(slots[:, 1], torch.tensor(sharpe, dtype=torch.float32))
    assert torch.equal(slots[:, 2], torch.tensor(hit, dtype=torch.float32))


def test_report_risk_utilization_confidence_and_unrealized_pnl_by_specialist() -> None:
    state = account([0.0] * 3, [0.0] * 3, [0.5] * 3)
    executed = torch.tensor([[0.2, -0.1, 0.0, 0.05, 0.0, 0.0, 0.0, -0.3]])
    vol = torch.tensor([[0.01, 0.02, 0.01, 0.04, 0.03, 0.02, 0.02, 0.01]])
    positions = [
        Position("EURUSD", 1000.0, 1.10, 1.12),  # +20 USD
        Position("US30", -2.0, 33000.0, 33100.0),  # -200 USD
        Position("USDJPY", 1000.0, 100.0, 125.0, usd_base=True),  # +200 USD
    ]
    ln3 = math.log(3)
    reports = reports_of(
        state,
        positions=positions,
        executed=executed,
        vol=vol,
        allocation=torch.tensor([[0.5, 0.25, 0.25]]),
        appetite=0.8,
        entropy=torch.tensor([[0.0, 2 * ln3, 1.5 * ln3]]),  # certain, uniform, half
    )
    fx, co, eq = (reports[n] for n in LAYOUT.names)
    # budgets a * appetite * target_vol * S: 0.012, 0.006, 0.006; used sum |w| vol
    assert fx["risk_utilization"] == pytest.approx((0.2 * 0.01 + 0.1 * 0.02) / 0.012)
    assert co["risk_utilization"] == pytest.approx(0.05 * 0.04 / 0.006)
    assert eq["risk_utilization"] == pytest.approx(0.3 * 0.01 / 0.006)
    assert [fx["confidence_score"], co["confidence_score"]] == [1.0, 0.0]
    assert eq["confidence_score"] == pytest.approx(0.5)
    assert fx["unrealized_pnl"] == pytest.approx(20.0 + 200.0)
    assert eq["unrealized_pnl"] == pytest.approx(-200.0) and co["unrealized_pnl"] == 0.0
    # without a meta action every budget is target_vol and confidence is 1
    plain = reports_of(state, executed=executed, vol=vol)
    assert plain["equity"]["risk_utilization"] == pytest.approx(0.3 * 0.01 / 0.01)
    assert {r["confidence_score"] for r in plain.values()} == {1.0}


def test_messenger_broadcasts_shares_clipped_appetite_and_regime_then_records_reports() -> None:
    hub = CommunicationHub()
    messenger = SpecialistMessenger(hub, LAYOUT)
    returns = torch.full((30,), 0.004, dtype=torch.float64)  # +12.7% compounded, calm: bull
    when = datetime(2024, 3, 1, tzinfo=UTC)
    sent = messenger.broadcast(torch.tensor([[0.5, 0.3, 0.2]]), 1.2, returns, "c9", when)
    assert [m.allocation for m in sent] == [0.5, 0.30000001192092896, 0.20000000298023224]
    assert {m.risk_appetite for m in sent} == {1.0}
    assert {m.market_regime for m in sent} == {market_regime(returns)} == {"bull"}
    state = account([1e-4] * 3, [1e-6] * 3, [0.6] * 3)
    metrics = specialist_metrics(state)
    got = messenger.report(
        metrics, state.spec_m1, 1e5, [], torch.zeros(1, 8), torch.full((1, 8), 0.01),
        None, None, None, "c9", when,
    )  # fmt: skip
    assert [r.specialist_id for r in got] == LAYOUT.names
    assert [r.sharpe_ratio for r in got] == metrics[0, 1::3].tolist()
    assert hub.query(PerformanceReport, correlation_id="c9") == got
    assert len(hub.query(AllocationMessage, correlation_id="c9", until=when)) == 3
