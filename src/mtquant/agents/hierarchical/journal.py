"""The decision journal of :class:`~mtquant.agents.hierarchical.hierarchical_system.HierarchicalTradingSystem`.

One :class:`Decision` per decision cycle (the meta action, the directions, the proposed and the
executed weights, the risk layer that bound, the circuit breaker's trigger and state, the orders
the pre-trade gate refused with their reasons, the specialists whose inputs were anomalous, the
number of orders), plus the logs the reports read: the allocation changes (the first allocation
and every one that moved some specialist's share by more than a threshold), the risk
interventions (the cycles where a limit of :func:`~mtquant.risk_management.limits.enforce_limits`
changed the book), the breaker's alerts and the refused orders.

Kept apart from the decision cycle so that what is recorded, and when, is one small class that
can be tested on its own; the cycle hands it tensors it already holds (no recomputation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from mtquant.risk_management.limits import BINDING_NAMES, RiskDiagnostics


@dataclass(frozen=True)
class Decision:
    """What one cycle decided (weights are notional / equity)."""

    row: int
    allocation: torch.Tensor | None  # [S]
    appetite: float | None
    direction: torch.Tensor | None  # [N]
    proposed_weights: torch.Tensor  # [N]
    executed_weights: torch.Tensor  # [N]
    binding: str  # risk layer that bound last ("none" when compliant)
    n_orders: int
    alert: str = "none"  # the circuit breaker's trigger this cycle (guard.ALERTS)
    breaker_on: bool = False  # the breaker's response scaled the book
    rejected: dict[str, str] = field(default_factory=dict)  # symbol -> pre-trade reason
    anomalies: tuple[str, ...] = ()  # specialists whose domain inputs were anomalous


class DecisionJournal:
    """Every decision, the allocation changes above ``allocation_change_threshold`` (largest
    absolute change of one specialist's share) and the risk interventions, oldest first."""

    def __init__(self, allocation_change_threshold: float = 0.05) -> None:
        self.allocation_change_threshold = allocation_change_threshold
        self.decisions: list[Decision] = []
        self.allocation_changes: list[dict[str, Any]] = []
        self.risk_interventions: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []  # cycles where the circuit breaker tripped
        self.rejections: list[dict[str, Any]] = []  # orders the pre-trade gate refused
        self._last_allocation: torch.Tensor | None = None

    def record(
        self,
        row: int,
        allocation: torch.Tensor | None,
        appetite: float | None,
        direction: torch.Tensor | None,
        proposed: torch.Tensor,
        executed: torch.Tensor,
        diag: RiskDiagnostics,
        n_orders: int,
        alert: str = "none",
        breaker_on: bool = False,
        rejected: dict[str, str] | None = None,
        anomalies: tuple[str, ...] = (),
    ) -> Decision:
        """Record the cycle at row ``row`` (tensors ``[1, *]``, copied) and return its entry.

        ``allocation`` None (a policy without a meta action) records no allocation change; a
        risk intervention is recorded when ``diag`` names a binding layer, with its gross scale
        and the VaR of the proposed and of the executed book.
        """
        binding = BINDING_NAMES[int(diag.binding)]
        alloc = None if allocation is None else allocation[0].clone()
        decision = Decision(
            row=row,
            allocation=alloc,
            appetite=appetite,
            direction=None if direction is None else direction[0].clone(),
            proposed_weights=proposed[0].clone(),
            executed_weights=executed[0].clone(),
            binding=binding,
            n_orders=n_orders,
            alert=alert,
            breaker_on=breaker_on,
            rejected=dict(rejected or {}),
            anomalies=tuple(anomalies),
        )
        self.decisions.append(decision)
        if alert != "none":
            self.alerts.append({"row": row, "trigger": alert})
        self.rejections += [
            {"row": row, "symbol": sym, "reason": why} for sym, why in decision.rejected.items()
        ]
        if alloc is not None:
            prev = self._last_allocation
            change = None if prev is None else float((alloc - prev).abs().max())
            if change is None or change > self.allocation_change_threshold:
                self.allocation_changes.append(
                    {"row": row, "from": prev, "to": alloc, "max_change": change}
                )
            self._last_allocation = alloc
        if binding != "none":
            self.risk_interventions.append(
                {
                    "row": row,
                    "binding": binding,
                    "scale": diag.scale.item(),
                    "proposed_var": diag.proposed_var.item(),
                    "executed_var": diag.executed_var.item(),
                }
            )
        return decision
