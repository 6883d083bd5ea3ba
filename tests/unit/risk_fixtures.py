"""Limits shared by the risk tests (built in code, no files)."""

from __future__ import annotations

import torch

from mtquant.risk_management.limits import RiskLimits


def make_limits(n: int, **kw: float | str | bool | None) -> RiskLimits:
    """Loose limits (nothing binds) unless overridden; sectors [0, 0, 1, 1, ...]."""
    base = dict(
        max_portfolio_var=10.0,
        confidence=0.95,
        max_correlation_exposure=1.0,
        max_sector_allocation=1.0,
        max_gross_leverage=100.0,
        max_position_weight=100.0,
        max_margin_usage=1.0,
    )
    base.update(kw)
    return RiskLimits(
        **base,  # type: ignore[arg-type]
        sector_index=torch.arange(n) // 2,
        margin_rate=torch.full((n,), 0.01, dtype=torch.float64),
    )
