"""CommunicationHub: messages, bounded history, queries, coordination rules, errors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mtquant.agents.hierarchical.communication import (
    AllocationMessage,
    CommunicationHub,
    CoordinationSignal,
    PerformanceReport,
)
from mtquant.config.agents import CommunicationConfig
from mtquant.errors import DataError

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
