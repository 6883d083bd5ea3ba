"""``FeatureSet``: every causal feature of a dataset, precomputed once so an env step is an index."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch


@dataclass
class FeatureSet:
    """Causal features of one :class:`~mtquant.data.market_data.MarketData` (value at t uses data <= t).

    Row ``t`` of every tensor is known at the close of day ``t``. Floating tensors are float32
    except ``returns``, ``close``, ``fill_price`` and ``spread`` (float64, used for P&L / costs).
    ``spread`` is the data's quoted spread per bar; where ``has_spread`` is False it is 0 and fills
    pay the instrument table's constant spread (see ``MarketTape.build``).
    """

    dates: pd.DatetimeIndex  # [T]
    symbols: list[str]  # [N]
    specialists: list[str]  # [S], order of the universe
    obs: torch.Tensor  # [T, N, 50] per-instrument observation; [..., 48:50] zero (env fills)
    obs_names: list[str]  # [48] names of the market part of obs
    market: dict[str, torch.Tensor]  # specialist -> [T, D_s] domain features (forex 8, ...)
    market_names: dict[str, list[str]]  # specialist -> its D_s feature names
    correlations: torch.Tensor  # [T, N(N-1)/2] rolling correlation, upper triangle (row-major)
    macro: torch.Tensor  # [T, 5] macro proxies (or user series)
    macro_names: list[str]  # [5]
    returns: torch.Tensor  # [T, N] float64 USD position return close[t-1] -> close[t]; 0 at t=0
    vol: torch.Tensor  # [T, N] daily volatility estimate of returns (EWMA, causal), > 0
    cov: torch.Tensor  # [T, N, N] rolling covariance of returns (window=risk.var_window, ddof=1)
    ewma_cov: torch.Tensor  # [T, N, N] RiskMetrics EWMA covariance of returns (lambda 0.94)
    close: torch.Tensor  # [T, N] float64 close prices
    fill_price: torch.Tensor  # [T, N] float64 fill price on day t: open, or close if close-only
    spread: torch.Tensor  # [T, N] float64 quoted spread per bar (price units); 0 if no quote
    has_spread: torch.Tensor  # [N] bool, the data quotes a spread per bar for this instrument
    tradable: torch.Tensor  # [T, N] bool, the instrument has a bar on day t (not forward-filled)
    correlation_regime: torch.Tensor  # [T] int64, 0 none / 1 spike / 2 breakdown (risk rule)
    valid_from: int  # first row where every feature is defined (warm-up done)
    norm_fitted_until: int  # normalisation statistics use rows < this (the training split end)
    notes: list[str] = field(default_factory=list)  # proxies held neutral for missing symbols

    def order_ok(self) -> torch.Tensor:
        """``[T, N]`` bool: an order decided on day t can trade (a bar on t, where its price is
        read, and on t + 1, where it fills; the last row: t). A market shut on either day
        refuses the order (the pre-trade gate's ``no_price``)."""
        following = torch.cat([self.tradable[1:], self.tradable[-1:]], dim=0)
        return self.tradable.to(torch.bool) & following.to(torch.bool)

    @property
    def n_days(self) -> int:
        return len(self.dates)

    @property
    def n_instruments(self) -> int:
        return len(self.symbols)
