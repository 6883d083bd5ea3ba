"""Matched volatility: scale a proposed book to an ex-ante portfolio volatility target.

Strategies that hold books of very different size cannot be compared by their Sharpe ratios and
drawdowns alone (a strategy that mostly stands aside has tiny drawdowns). With
``env.target_annual_vol`` set, every strategy an evaluation or backtest runs (the system, the
single agent, every baseline) passes through :class:`VolatilityTarget`: after the policy has
written ``target_weights`` and before the risk guard sees them, the whole book is multiplied by
``sigma_target / sigma_t`` where ``sigma_t = sqrt(w' Sigma_t w)`` is the book's daily
volatility under the feature set's EWMA covariance (RiskMetrics, lambda 0.94) known at the
close of the decision day, and ``sigma_target = target_annual_vol / sqrt(252)``. The scale is
uniform, so the strategy's relative positions and signs are kept; it is capped so that no leg
exceeds ``env.max_gross_weight`` (the action bound), and a flat book stays flat. The risk limits
then apply as always (a target above what the VaR limit allows is scaled down by the guard).

Training is not affected: the policy learns on its own sizing; the target sets the risk at which
its decisions are scored beside the baselines'.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tensordict import TensorDictBase

from mtquant.errors import DataError

TRADING_DAYS = 252
ROW_KEY = ("info", "date_index")

Policy = Callable[[TensorDictBase], TensorDictBase]


def scale_to_volatility(
    weights: torch.Tensor,
    cov: torch.Tensor,
    daily_vol: float,
    max_weight: float = float("inf"),
) -> torch.Tensor:
    """``weights [*, N]`` times one scale per book so that ``sqrt(w' cov w) = daily_vol``.

    ``cov [*, N, N]``. The scale is capped so that ``max |w| <= max_weight``; books with no
    volatility (flat) are returned unchanged.
    """
    w = weights.to(torch.float64)
    var = torch.einsum("...i,...ij,...j->...", w, cov.to(torch.float64), w)
    vol = var.clamp_min(0.0).sqrt()
    has_risk = vol > 1e-12
    scale = torch.where(has_risk, daily_vol / vol.clamp_min(1e-12), torch.ones_like(vol))
    largest = w.abs().amax(-1)
    cap = torch.where(largest > 0, max_weight / largest.clamp_min(1e-300), torch.inf)
    scale = torch.minimum(scale, cap)
    return (w * scale[..., None]).to(weights.dtype)


class VolatilityTarget:
    """``policy`` whose ``target_weights`` are scaled to ``annual_vol`` ex ante (module doc)."""

    def __init__(
        self,
        policy: Policy,
        ewma_cov: torch.Tensor,
        annual_vol: float,
        max_weight: float = float("inf"),
    ) -> None:
        self.policy = policy
        self.cov = ewma_cov  # [T, N, N], row t known at the close of t
        self.daily_vol = annual_vol / TRADING_DAYS**0.5
        self.max_weight = max_weight

    def __call__(self, td: TensorDictBase) -> TensorDictBase:
        td = self.policy(td)
        row = td.get(ROW_KEY, None)
        if row is None:
            raise DataError(f"{type(self).__name__} needs {ROW_KEY!r} in the tensordict")
        w = td.get("target_weights")
        cov = self.cov.to(w.device)[row.long()]
        td.set("target_weights", scale_to_volatility(w, cov, self.daily_vol, self.max_weight))
        return td


def with_volatility_target(
    policy: Policy, ewma_cov: torch.Tensor, annual_vol: float | None, max_weight: float
) -> Policy:
    """``policy`` itself when ``annual_vol`` is None, else wrapped in :class:`VolatilityTarget`."""
    if annual_vol is None:
        return policy
    return VolatilityTarget(policy, ewma_cov, annual_vol, max_weight)


def volatility_note(annual_vol: float | None) -> str:
    """One sentence for reports: the risk at which the strategies were compared."""
    if annual_vol is None:
        return (
            "Sizing: every strategy at its own size (env.target_annual_vol unset), so Sharpe "
            "ratios and drawdowns compare books of different risk."
        )
    return (
        f"Matched volatility (env.target_annual_vol={annual_vol:g}): every strategy's proposed "
        f"book was scaled each day to {annual_vol:.0%} a year ex ante (EWMA covariance) before "
        "the risk guard; training was not."
    )
