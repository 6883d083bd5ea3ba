"""Policy-facing observations of B accounts at their current rows: one function for env and system.

:func:`observe` gathers the precomputed feature rows ``t`` of each account (an index, no
recomputation) and fills the position-dependent parts from the account state:

* ``instrument_obs [B, N, 50]``: ``features.obs[t]`` with slot 48 = current position weight
  (signed notional / equity) and slot 49 = unrealised P&L of the open position / equity.
* ``meta_state [B, 74]`` in :class:`~mtquant.features.layout.PortfolioStateLayout` order:
  the last 30 daily portfolio returns in percent, their standard deviation in percent
  (population), the drawdown ``1 - equity / peak`` (fraction), the feature correlations, the
  specialist metrics of :func:`~mtquant.execution.kernel.specialist_metrics` and the
  macro features.
* ``("market", s) [B, D_s]``, ``vol [B, N]``, ``cov [B, N, N]``, ``weights [B, N]``, ``equity [B, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mtquant.execution.costs import pnl_usd
from mtquant.execution.kernel import (
    KernelState,
    MarketTape,
    position_weights,
    specialist_metrics,
)
from mtquant.features.feature_set import FeatureSet
from mtquant.features.layout import OBS_POSITION, OBS_UNREALISED, pack_meta_state
from mtquant.instruments import InstrumentUniverse


@dataclass(frozen=True)
class FeatureTape:
    """A FeatureSet's tensors on the env device, ready to be gathered by row."""

    obs: torch.Tensor  # [T, N, 50] float32
    market: dict[str, torch.Tensor]  # specialist -> [T, D_s] float32
    correlations: torch.Tensor  # [T, C] float32
    macro: torch.Tensor  # [T, 5] float32
    vol: torch.Tensor  # [T, N] float32
    cov: torch.Tensor  # [T, N, N] float32
    prices: MarketTape
    usd_base: torch.Tensor  # [N] bool
    order_ok: torch.Tensor  # [T, N] bool: a bar on day t and on the fill day t + 1 (market open)
    regime: torch.Tensor  # [T] int64 correlation regime (mtquant.features.correlation_regime)

    @classmethod
    def build(
        cls, features: FeatureSet, universe: InstrumentUniverse, device: torch.device | str
    ) -> FeatureTape:
        f32 = torch.float32
        prices = MarketTape.from_features(features, universe, device)
        return cls(
            obs=features.obs.to(device=device, dtype=f32),
            market={
                s: features.market[s].to(device=device, dtype=f32) for s in universe.specialists
            },
            correlations=features.correlations.to(device=device, dtype=f32),
            macro=features.macro.to(device=device, dtype=f32),
            vol=features.vol.to(device=device, dtype=f32),
            cov=features.cov.to(device=device, dtype=f32),
            prices=prices,
            usd_base=universe.terms(device=device)["usd_base"],
            order_ok=features.order_ok().to(device),
            regime=features.correlation_regime.to(device=device, dtype=torch.long),
        )


def drawdown(state: KernelState) -> torch.Tensor:
    """``[B]`` drawdown ``1 - equity / peak equity`` (fraction, 0 at a new high)."""
    return 1.0 - state.equity / state.peak_equity.clamp_min(1e-12)


def observe(
    state: KernelState, tape: FeatureTape, metrics: torch.Tensor | None = None
) -> dict[str, torch.Tensor | dict[str, torch.Tensor]]:
    """Every observation the policy reads, for the accounts' current rows ``state.t``.

    ``metrics``: :func:`~mtquant.execution.kernel.specialist_metrics` of ``state`` when the
    caller already computed it (the decision cycle, whose performance reports read it too);
    computed here otherwise.
    """
    if metrics is None:
        metrics = specialist_metrics(state)
    t = state.t
    close = tape.prices.close[t]  # [B, N]
    eq = state.equity
    weights = position_weights(state.units, eq, close, tape.usd_base)
    unreal = (
        pnl_usd(state.units, state.entry_price, close, tape.usd_base) / eq.clamp_min(1e-12)[:, None]
    )
    inst = tape.obs[t]  # [B, N, 50], a copy (advanced indexing)
    inst[..., OBS_POSITION] = weights.float()
    inst[..., OBS_UNREALISED] = unreal.float()
    meta = pack_meta_state(
        state.returns, drawdown(state), tape.correlations[t], metrics, tape.macro[t]
    )
    return {
        "meta_state": meta,
        "market": {s: m[t] for s, m in tape.market.items()},
        "instrument_obs": inst,
        "vol": tape.vol[t],
        "cov": tape.cov[t],
        "weights": weights.float(),
        "equity": eq[:, None],
        "tradable": tape.order_ok[t],
        "correlation_regime": tape.regime[t],
    }
