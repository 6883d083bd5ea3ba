"""Layout of the meta-controller's portfolio state and the per-instrument observation.

Portfolio state (74 for 8 instruments and 3 specialists), in this order:

=====================  ===============  ==============================================
slice                  size             filled by
=====================  ===============  ==============================================
portfolio returns      30               env: the account's last 30 daily returns
portfolio volatility   1                env: std of those returns
drawdown               1                env: 1 - equity / peak equity
correlations           N(N-1)/2 = 28    features: rolling correlation, upper triangle
specialist metrics     3 x S = 9        env: per specialist rolling return, Sharpe, hit rate
macro                  5                features: macro proxies (or user series)
=====================  ===============  ==============================================

Per-instrument observation (50): ``OBS_MARKET_DIM = 48`` market features from
:func:`mtquant.features.compute_features`, then the current position weight (index 48) and the
unrealised P&L as a fraction of equity (index 49), both filled by the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

OBSERVATION_DIM = 50
OBS_MARKET_DIM = 48
OBS_POSITION = 48
OBS_UNREALISED = 49
RETURNS_LOOKBACK = 30
SPECIALIST_METRICS = 3  # rolling return, rolling Sharpe, hit rate
MACRO_DIM = 5


@dataclass(frozen=True)
class PortfolioStateLayout:
    """Slices of the meta-controller state for ``n_instruments`` and ``n_specialists``."""

    n_instruments: int
    n_specialists: int

    @property
    def n_correlations(self) -> int:
        return self.n_instruments * (self.n_instruments - 1) // 2

    @property
    def returns(self) -> slice:
        return slice(0, RETURNS_LOOKBACK)

    @property
    def volatility(self) -> int:
        return RETURNS_LOOKBACK

    @property
    def drawdown(self) -> int:
        return RETURNS_LOOKBACK + 1

    @property
    def correlations(self) -> slice:
        start = RETURNS_LOOKBACK + 2
        return slice(start, start + self.n_correlations)

    @property
    def specialist_metrics(self) -> slice:
        start = self.correlations.stop
        return slice(start, start + SPECIALIST_METRICS * self.n_specialists)

    @property
    def macro(self) -> slice:
        start = self.specialist_metrics.stop
        return slice(start, start + MACRO_DIM)

    @property
    def dim(self) -> int:
        return self.macro.stop


# the plan's state: 8 instruments and 3 specialists (74); networks built for another universe
# take their width from PortfolioStateLayout
PLAN_STATE_DIM = PortfolioStateLayout(n_instruments=8, n_specialists=3).dim


def pack_meta_state(
    returns: torch.Tensor,
    drawdown: torch.Tensor,
    correlations: torch.Tensor,
    specialist_metrics: torch.Tensor,
    macro: torch.Tensor,
) -> torch.Tensor:
    """The meta-controller's state ``[B, dim]`` (float32) in the layout above: the one builder
    the environment, backtests and live trading share.

    ``returns [B, 30]`` daily returns as fractions (stored in percent, with their population
    standard deviation in percent as the volatility); ``drawdown [B]`` ``1 - equity / peak``;
    ``correlations [B, N(N-1)/2]``; ``specialist_metrics [B, 3 S]`` as
    :func:`mtquant.execution.kernel.specialist_metrics` gives them (EWMA daily return in percent,
    annualised Sharpe, hit rate per specialist); ``macro [B, 5]`` (normalised) macro inputs.
    """
    return torch.cat(
        [
            (returns * 100.0).float(),
            (returns.std(dim=1, unbiased=False) * 100.0)[:, None].float(),
            drawdown[:, None].float(),
            correlations,
            specialist_metrics.float(),
            macro,
        ],
        dim=1,
    )
