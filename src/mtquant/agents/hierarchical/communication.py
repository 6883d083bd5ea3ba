"""Messages between the levels and the hub that routes and records them.

Top-down :class:`AllocationMessage` (meta -> specialist), bottom-up :class:`PerformanceReport`
(specialist -> meta), horizontal :class:`CoordinationSignal` (specialist <-> specialist, or
``"system" -> "all"`` for alerts). Every message carries a UTC timestamp and a
``correlation_id`` tying together one decision cycle (allocation -> reports -> signals), so a
trace can be read back with :meth:`CommunicationHub.query`. The history is a bounded deque
(``message_history_size``); with ``log_all_messages`` every message goes to the
``mtquant.agents.communication`` logger at INFO.

Coordination rules (:meth:`CommunicationHub.check_coordination_opportunities`), for each pair
of held instruments ``i, j`` owned by different specialists, with return correlation
``rho_ij`` and effective correlation ``sign(w_i) sign(w_j) rho_ij``:

* ``hedge_opportunity`` when ``|rho_ij| >= hedge_threshold`` and the effective correlation is
  ``<= -hedge_threshold``: the two specialists hold opposite exposures to the same risk, so
  they offset each other (one of them could be cut, saving costs);
* ``correlation_alert`` when the effective correlation is ``>= alert_threshold``: the two
  specialists stack the same risk (the risk transform's correlation limit would bind).
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mtquant.errors import DataError

log = logging.getLogger("mtquant.agents.communication")

REGIMES = ("bull", "bear", "neutral", "volatile")
META_ID = "meta_controller"
SYSTEM_ID = "system"
BROADCAST_ID = "all"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AllocationMessage:
    """Top-down: meta-controller -> one specialist."""

    specialist_id: str
    allocation: float  # share of capital, 0-1
    risk_appetite: float  # 0-1
    market_regime: str  # bull | bear | neutral | volatile
    timestamp: datetime = field(default_factory=_now)
    correlation_id: str = ""
    sender: str = META_ID


@dataclass(frozen=True)
class PerformanceReport:
    """Bottom-up: one specialist -> meta-controller."""

    specialist_id: str
    confidence_score: float  # 0-1
    realized_pnl: float
    unrealized_pnl: float
    sharpe_ratio: float
    win_rate: float  # 0-1
    risk_utilization: float  # share of the allocated risk budget in use
    timestamp: datetime = field(default_factory=_now)
    correlation_id: str = ""

    @property
    def sender(self) -> str:
        return self.specialist_id


@dataclass(frozen=True)
class CoordinationSignal:
    """Horizontal: specialist -> specialist (or ``system`` -> ``all`` for alerts)."""

    from_specialist: str
    to_specialist: str
    signal_type: str  # hedge_opportunity | correlation_alert | risk_warning | <alert type>
    data: dict[str, Any]
    timestamp: datetime = field(default_factory=_now)
    correlation_id: str = ""

    @property
    def sender(self) -> str:
        return self.from_specialist


Message = AllocationMessage | PerformanceReport | CoordinationSignal
REPORT_FIELDS = (
    "confidence_score",
    "realized_pnl",
    "unrealized_pnl",
    "sharpe_ratio",
    "win_rate",
    "risk_utilization",
)


class CommunicationHub:
    """Central broker: builds, validates, records and answers queries about messages."""

    def __init__(
        self,
        message_history_size: int = 1000,
        correlation_id_enabled: bool = True,
        log_all_messages: bool = False,
    ) -> None:
        if message_history_size < 1:
            raise DataError(
                f"CommunicationHub: message_history_size={message_history_size}, expected >= 1"
            )
        self.history: deque[Message] = deque(maxlen=message_history_size)
        self.correlation_id_enabled = correlation_id_enabled
        self.log_all_messages = log_all_messages

    @classmethod
    def from_config(cls, cfg: Any) -> CommunicationHub:
        """From ``agents.communication`` (:class:`mtquant.config.agents.CommunicationConfig`)."""
        return cls(cfg.message_history_size, cfg.correlation_id_enabled, cfg.log_all_messages)

    def new_correlation_id(self) -> str:
        """A fresh id for one decision cycle ('' when correlation ids are disabled)."""
        return uuid.uuid4().hex[:12] if self.correlation_id_enabled else ""

    def record(self, message: Message) -> None:
        """Append to the bounded history (the oldest message drops out) and optionally log it."""
        self.history.append(message)
        if self.log_all_messages:
            log.info("%s %s", type(message).__name__, asdict(message))

    # ------------------------------------------------------------------ the plan's methods
    def send_allocation(
        self,
        allocation: Sequence[float] | np.ndarray,
        specialists: Sequence[str],
        risk_appetite: float,
        market_regime: str,
        correlation_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> list[AllocationMessage]:
        """Meta -> each specialist: its share, the common appetite and regime.

        Checked as Python floats (one conversion; numpy calls on three numbers cost more than
        the checks): no share below ``-1e-9`` and their sum (left to right) within ``1e-4`` of 1.
        """
        if type(allocation) is list and all(type(a) is float for a in allocation):
            alloc = allocation  # already Python floats (float64): what the conversion gives
        else:
            alloc = np.asarray(allocation, dtype=np.float64).reshape(-1).tolist()
        if len(alloc) != len(specialists):
            raise DataError(
                f"send_allocation: {len(alloc)} allocations for {len(specialists)} specialists "
                f"{list(specialists)}"
            )
        if any(a < -1e-9 for a in alloc) or abs(sum(alloc) - 1.0) > 1e-4:
            raise DataError(f"send_allocation: allocation {alloc} is not on the simplex")
        if not 0.0 <= risk_appetite <= 1.0:
            raise DataError(f"send_allocation: risk_appetite={risk_appetite}, expected in [0, 1]")
        if market_regime not in REGIMES:
            raise DataError(
                f"send_allocation: market_regime={market_regime!r}, expected one of {REGIMES}"
            )
        cid = self.new_correlation_id() if correlation_id is None else correlation_id
        ts = timestamp or _now()
        messages = [
            AllocationMessage(name, float(a), float(risk_appetite), market_regime, ts, cid)
            for name, a in zip(specialists, alloc, strict=True)
        ]
        for m in messages:
            self.record(m)
        return messages

    def collect_reports(
        self,
        reports: Mapping[str, Mapping[str, float] | PerformanceReport],
        correlation_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> list[PerformanceReport]:
        """Each specialist -> meta: record one report per specialist (given as fields or reports)."""
        cid = self.new_correlation_id() if correlation_id is None else correlation_id
        ts = timestamp or _now()
        out = []
        for name, item in reports.items():
            if isinstance(item, PerformanceReport):
                report = item
            else:
                missing = [f for f in REPORT_FIELDS if f not in item]
                if missing:
                    raise DataError(f"collect_reports: report of {name!r} lacks {missing}")
                fields_ = {f: float(item[f]) for f in REPORT_FIELDS}
                report = PerformanceReport(
                    specialist_id=name, timestamp=ts, correlation_id=cid, **fields_
                )
            if not 0.0 <= report.confidence_score <= 1.0:
                raise DataError(
                    f"collect_reports: {name!r} confidence_score={report.confidence_score}, "
                    "expected in [0, 1]"
                )
            self.record(report)
            out.append(report)
        return out

    def broadcast_alert(
        self, alert_type: str, data: Mapping[str, Any], correlation_id: str | None = None
    ) -> CoordinationSignal:
        """System-wide alert (e.g. ``circuit_breaker``), recorded as ``system -> all``."""
        if not alert_type:
            raise DataError("broadcast_alert: alert_type is empty")
        cid = self.new_correlation_id() if correlation_id is None else correlation_id
        signal = CoordinationSignal(SYSTEM_ID, BROADCAST_ID, alert_type, dict(data), _now(), cid)
        self.record(signal)
        if not self.log_all_messages:
            log.warning("alert %s %s", alert_type, dict(data))
        return signal

    def check_coordination_opportunities(
        self,
        exposures: Mapping[str, Mapping[str, float]],
        correlation: np.ndarray | Sequence[Sequence[float]],
        symbols: Sequence[str],
        hedge_threshold: float = 0.7,
        alert_threshold: float = 0.7,
        correlation_id: str | None = None,
    ) -> list[CoordinationSignal]:
        """Hedge opportunities and correlation alerts across specialists (module rules).

        ``exposures``: specialist -> {symbol: signed weight}; ``correlation``: ``[N, N]`` over
        ``symbols``.
        """
        rho = np.asarray(correlation, dtype=np.float64)
        n = len(symbols)
        if rho.shape != (n, n):
            raise DataError(
                f"check_coordination_opportunities: correlation {rho.shape}, expected ({n}, {n})"
            )
        owner = np.full(n, -1)
        weight = np.zeros(n)
        names = list(exposures)
        for k, name in enumerate(names):
            for sym, w in exposures[name].items():
                if sym not in symbols:
                    raise DataError(
                        f"check_coordination_opportunities: {name!r} holds unknown {sym!r}"
                    )
                owner[symbols.index(sym)] = k
                weight[symbols.index(sym)] = w
        sign = np.sign(weight)
        eff = np.outer(sign, sign) * rho
        pair = np.triu(np.ones((n, n), dtype=bool), 1) & (owner[:, None] != owner[None, :])
        pair &= (sign[:, None] != 0) & (sign[None, :] != 0)
        hedge = pair & (np.abs(rho) >= hedge_threshold) & (eff <= -hedge_threshold)
        alert = pair & (eff >= alert_threshold)
        cid = self.new_correlation_id() if correlation_id is None else correlation_id
        out = []
        for kind, mask in (("hedge_opportunity", hedge), ("correlation_alert", alert)):
            for i, j in np.argwhere(mask):
                data = {
                    "symbols": (symbols[i], symbols[j]),
                    "correlation": float(rho[i, j]),
                    "effective_correlation": float(eff[i, j]),
                    "weights": (float(weight[i]), float(weight[j])),
                }
                signal = CoordinationSignal(
                    names[owner[i]], names[owner[j]], kind, data, _now(), cid
                )
                self.record(signal)
                out.append(signal)
        return out

    # ------------------------------------------------------------------ queries
    def query(
        self,
        message_type: type | None = None,
        sender: str | None = None,
        recipient: str | None = None,
        correlation_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Message]:
        """Messages in the history matching every given filter, oldest first."""

        def recipient_of(m: Message) -> str:
            if isinstance(m, AllocationMessage):
                return m.specialist_id
            if isinstance(m, PerformanceReport):
                return META_ID
            return m.to_specialist

        def keep(m: Message) -> bool:
            return (
                (message_type is None or isinstance(m, message_type))
                and (sender is None or m.sender == sender)
                and (recipient is None or recipient_of(m) == recipient)
                and (correlation_id is None or m.correlation_id == correlation_id)
                and (since is None or m.timestamp >= since)
                and (until is None or m.timestamp <= until)
            )

        return [m for m in self.history if keep(m)]
