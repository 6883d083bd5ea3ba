"""DecisionJournal: one entry per cycle, allocation changes above the threshold, interventions."""

from __future__ import annotations

import pytest
import torch

from mtquant.agents.hierarchical.hierarchical_system import Decision as ReExportedDecision
from mtquant.agents.hierarchical.journal import Decision, DecisionJournal
from mtquant.config import compose_config, to_object
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.limits import RiskDiagnostics, RiskLimits, enforce_limits

CFG = to_object(compose_config("train", ["risk.var_method=parametric"]))  # reads COV alone
UNIVERSE = InstrumentUniverse.from_config(CFG.instruments)
LIMITS = RiskLimits.from_config(CFG.risk, UNIVERSE)
COV = torch.eye(8, dtype=torch.float64) * 1e-4  # 1% daily vol, uncorrelated


def checked(weights: list[float]) -> tuple[torch.Tensor, torch.Tensor, RiskDiagnostics]:
    """A proposed book ``[1, 8]``, its executed book and the limits' diagnostics."""
    proposed = torch.tensor([weights], dtype=torch.float64)
    executed, diag = enforce_limits(proposed, COV, LIMITS)
    return proposed, executed, diag


def record(
    journal: DecisionJournal, row: int, allocation: list[float] | None, weights: list[float]
) -> Decision:
    proposed, executed, diag = checked(weights)
    alloc = None if allocation is None else torch.tensor([allocation])
    appetite = None if allocation is None else 0.5
    direction = None if allocation is None else torch.ones(1, 8, dtype=torch.long)
    return journal.record(row, alloc, appetite, direction, proposed, executed, diag, n_orders=2)


def test_decision_is_re_exported_by_the_system_module() -> None:
    assert ReExportedDecision is Decision


def test_journal_records_one_decision_per_cycle_as_copies_of_the_cycles_tensors() -> None:
    journal = DecisionJournal()
    proposed, executed, diag = checked([0.1] * 8)
    alloc = torch.tensor([[0.5, 0.3, 0.2]])
    direction = torch.zeros(1, 8, dtype=torch.long)
    d = journal.record(7, alloc, 0.4, direction, proposed, executed, diag, n_orders=3)
    alloc += 1.0  # the cycle's tensors may be reused afterwards
    proposed += 1.0
    assert journal.decisions == [d]
    assert d.row == 7 and d.appetite == 0.4 and d.n_orders == 3 and d.binding == "none"
    assert torch.equal(d.allocation, torch.tensor([0.5, 0.3, 0.2]))
    assert torch.equal(d.proposed_weights, torch.full((8,), 0.1, dtype=torch.float64))
    assert d.direction is not None and d.direction.shape == (8,)


def test_journal_records_allocation_changes_above_the_threshold_only() -> None:
    journal = DecisionJournal(allocation_change_threshold=0.05)
    record(journal, 0, [0.4, 0.3, 0.3], [0.0] * 8)  # the first allocation is always recorded
    record(journal, 1, [0.42, 0.29, 0.29], [0.0] * 8)  # moved by 0.02: not a change
    record(journal, 2, [0.5, 0.25, 0.25], [0.0] * 8)  # 0.08 from the last one: a change
    record(journal, 3, None, [0.0] * 8)  # a policy without a meta action
    changes = journal.allocation_changes
    assert [c["row"] for c in changes] == [0, 2]
    assert changes[0]["from"] is None and changes[0]["max_change"] is None
    assert changes[1]["max_change"] == pytest.approx(0.08, abs=1e-6)
    assert torch.equal(changes[1]["from"], torch.tensor([0.42, 0.29, 0.29]))
    assert len(journal.decisions) == 4 and journal.decisions[3].allocation is None


def test_journal_records_risk_interventions_only_when_a_limit_binds() -> None:
    journal = DecisionJournal()
    record(journal, 0, [0.4, 0.3, 0.3], [0.05] * 8)  # compliant
    assert journal.risk_interventions == []
    d = record(journal, 1, [0.4, 0.3, 0.3], [1.0] * 8)  # 8x gross: the limits bind
    _, executed, diag = checked([1.0] * 8)
    (iv,) = journal.risk_interventions
    assert iv["row"] == 1 and iv["binding"] == d.binding != "none"
    assert iv["scale"] == diag.scale.item() < 1.0
    assert iv["executed_var"] == diag.executed_var.item() < iv["proposed_var"]
    assert torch.equal(d.executed_weights, executed[0])
