"""Messaging of a decision cycle: allocations down to the specialists, performance reports up.

Steps 3 and 5 of :meth:`HierarchicalTradingSystem.step
<mtquant.agents.hierarchical.hierarchical_system.HierarchicalTradingSystem.step>`, through a
:class:`~mtquant.agents.hierarchical.communication.CommunicationHub`:

* :meth:`SpecialistMessenger.broadcast` sends each specialist its share of the allocation, the
  common risk appetite and the market regime (the meta-controller's rule,
  :func:`~mtquant.agents.hierarchical.meta_controller.market_regime`, on the account's last 30
  daily returns);
* :func:`performance_reports` builds each specialist's report from the account and the cycle's
  action, and :meth:`SpecialistMessenger.report` records them.

The Sharpe ratio and hit rate in the reports are :func:`~mtquant.execution.kernel.specialist_metrics`
of the account state, the function whose output fills the specialist-metrics slots of the
meta-controller's state (the cycle computes it once and hands the same tensor to the
observation), so the meta-controller and the reports cannot disagree about a specialist. (A
re-derivation with ``math.sqrt`` can differ from them by an ulp or two: torch's vectorised
float64 ``sqrt`` is not always correctly rounded; about 1 % of values on an AVX-512 build.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import torch

from mtquant.agents.hierarchical.communication import (
    AllocationMessage,
    CommunicationHub,
    PerformanceReport,
)
from mtquant.agents.hierarchical.meta_controller import market_regime
from mtquant.execution.orders import Position
from mtquant.features.layout import SPECIALIST_METRICS
from mtquant.instruments import InstrumentUniverse

SHARPE, HIT_RATE = 1, 2  # offsets of a specialist's Sharpe and hit rate in specialist_metrics


class SpecialistLayout:
    """The universe's specialist lookups the reports need, computed once."""

    def __init__(self, universe: InstrumentUniverse, target_vol: float) -> None:
        self.names = list(universe.specialists)
        self.symbols = list(universe.symbols)
        self.sym_index = {sym: k for k, sym in enumerate(self.symbols)}
        self.spec_of: list[int] = universe.specialist_index().tolist()  # specialist of each leg
        counts = [float(self.spec_of.count(s)) for s in range(len(self.names))]
        self.entropy_scale = [c * math.log(3) for c in counts]  # n_s log 3: max entropy
        self.target_vol = target_vol


def performance_reports(
    layout: SpecialistLayout,
    metrics: torch.Tensor,
    spec_m1: torch.Tensor,
    equity: float,
    positions: Sequence[Position],
    executed: torch.Tensor,
    vol: torch.Tensor,
    allocation: torch.Tensor | None,
    appetite: float | None,
    entropy: torch.Tensor | None,
) -> dict[str, dict[str, float]]:
    """Each specialist's report fields (the hub's ``REPORT_FIELDS``), by name.

    From the account: ``metrics [1, 3 S]`` = :func:`~mtquant.execution.kernel.specialist_metrics`
    of its state (float64) gives ``sharpe_ratio`` (annualised EWMA Sharpe, clipped to +-10) and
    ``win_rate`` (EWMA hit rate); ``realized_pnl`` = EWMA daily net return ``spec_m1 [1, S]`` x
    ``equity`` (USD); ``unrealized_pnl`` of the specialist's open ``positions``. From the cycle:
    ``confidence_score = 1 - entropy_s / (n_s log 3)`` of its direction heads (1 without
    ``entropy``) and ``risk_utilization`` = its executed volatility ``sum_i |w_i| vol_i`` over its
    budget ``allocation_s * appetite * target_vol * S`` (sizing's rule; ``target_vol`` without a
    meta action). Float64 Python arithmetic: S and N are small, a torch op per value costs more.
    """
    names, spec_of = layout.names, layout.spec_of
    s_count = len(names)
    flat = metrics.tolist()[0]
    m1 = spec_m1.tolist()[0]
    unreal = [0.0] * s_count
    for pos in positions:
        unreal[spec_of[layout.sym_index[pos.symbol]]] += pos.unrealized_pnl
    ent = None if entropy is None else entropy.tolist()[0]
    used = [0.0] * s_count
    for k, (w, v) in enumerate(zip(executed.tolist()[0], vol.tolist()[0], strict=True)):
        used[spec_of[k]] += abs(w) * v
    target_vol = layout.target_vol
    if allocation is None or appetite is None:
        budget = [target_vol] * s_count
    else:
        budget = [a * appetite * target_vol * s_count for a in allocation.tolist()[0]]
    scale = layout.entropy_scale
    reports = {}
    for s, name in enumerate(names):
        conf = 1.0 if ent is None else min(max(1 - ent[s] / scale[s], 0.0), 1.0)
        reports[name] = {
            "confidence_score": conf,
            "realized_pnl": m1[s] * equity,
            "unrealized_pnl": unreal[s],
            "sharpe_ratio": flat[SPECIALIST_METRICS * s + SHARPE],
            "win_rate": flat[SPECIALIST_METRICS * s + HIT_RATE],
            "risk_utilization": used[s] / budget[s] if budget[s] > 0 else 0.0,
        }
    return reports


class SpecialistMessenger:
    """Sends a cycle's allocation down and its performance reports up through ``hub``."""

    def __init__(self, hub: CommunicationHub, layout: SpecialistLayout) -> None:
        self.hub = hub
        self.layout = layout

    def broadcast(
        self,
        allocation: torch.Tensor,
        appetite: float,
        returns: torch.Tensor,
        correlation_id: str,
        when: datetime,
    ) -> list[AllocationMessage]:
        """Step 3: ``allocation [1, S]``, ``appetite`` (clipped to [0, 1]) and the market regime
        of ``returns`` (the account's last daily returns) to each specialist."""
        return self.hub.send_allocation(
            allocation.tolist()[0],
            self.layout.names,
            min(max(appetite, 0.0), 1.0),
            market_regime(returns),
            correlation_id=correlation_id,
            timestamp=when,
        )

    def report(
        self,
        metrics: torch.Tensor,
        spec_m1: torch.Tensor,
        equity: float,
        positions: Sequence[Position],
        executed: torch.Tensor,
        vol: torch.Tensor,
        allocation: torch.Tensor | None,
        appetite: float | None,
        entropy: torch.Tensor | None,
        correlation_id: str,
        when: datetime,
    ) -> list[PerformanceReport]:
        """Step 5: record :func:`performance_reports` (same arguments) with the hub; returns
        the recorded reports."""
        fields = performance_reports(
            self.layout,
            metrics,
            spec_m1,
            equity,
            positions,
            executed,
            vol,
            allocation,
            appetite,
            entropy,
        )
        return self.hub.collect_reports(fields, correlation_id=correlation_id, timestamp=when)
