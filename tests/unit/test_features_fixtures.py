"""Seeded random-walk MarketData for the feature tests (no tests of its own)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from mtquant.data.market_data import FIELDS, MarketData, Provenance

ALL8 = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "WTIUSD", "SPX500", "NAS100", "US30"]
LEVEL = {"EURUSD": 1.15, "GBPUSD": 1.35, "USDJPY": 110.0, "XAUUSD": 1300.0, "WTIUSD": 60.0,
         "SPX500": 2500.0, "NAS100": 6000.0, "US30": 22000.0}  # fmt: skip
DAILY_VOL = {"EURUSD": 0.006, "GBPUSD": 0.006, "USDJPY": 0.006, "XAUUSD": 0.01,
             "WTIUSD": 0.022, "SPX500": 0.01, "NAS100": 0.012, "US30": 0.01}  # fmt: skip
WITH_RANGE = {"SPX500", "NAS100"}  # arch.data-like OHLCV; the others are close-only


def make_market_data(
    n_days: int = 400, symbols: list[str] | None = None, seed: int = 0, start: str = "2010-01-04"
) -> MarketData:
    """Correlated geometric random walks at realistic levels; SPX500/NAS100 with consistent
    OHLC and volume, the others close-only (open = high = low = close); a few filled bars."""
    symbols = list(ALL8 if symbols is None else symbols)
    rng = np.random.default_rng(seed)
    n = len(symbols)
    vol = np.array([DAILY_VOL[s] for s in symbols])
    common = rng.standard_normal((n_days, 1))
    shocks = 0.5 * common + np.sqrt(0.75) * rng.standard_normal((n_days, n))
    log_ret = shocks * vol
    log_ret[0] = 0.0
    close = np.array([LEVEL[s] for s in symbols]) * np.exp(np.cumsum(log_ret, axis=0))
    values = np.zeros((n_days, n, len(FIELDS)))
    values[..., FIELDS.index("close")] = close
    for f in ("open", "high", "low"):
        values[..., FIELDS.index(f)] = close
    has_range = np.array([s in WITH_RANGE for s in symbols])
    prev = np.vstack([close[:1], close[:-1]])
    opn = prev * np.exp(0.002 * rng.standard_normal((n_days, n)))
    hi = np.maximum(opn, close) * np.exp(np.abs(0.004 * rng.standard_normal((n_days, n))))
    lo = np.minimum(opn, close) * np.exp(-np.abs(0.004 * rng.standard_normal((n_days, n))))
    for f, x in (("open", opn), ("high", hi), ("low", lo)):
        values[:, has_range, FIELDS.index(f)] = x[:, has_range]
    values[:, has_range, FIELDS.index("volume")] = rng.uniform(1e8, 3e8, (n_days, has_range.sum()))
    mask = np.ones((n_days, n), dtype=bool)
    filled = rng.random((n_days, n)) < 0.02
    filled[0] = False
    for k in np.argwhere(filled):  # forward-fill a few bars, as the loaders do (fixture only)
        t, j = int(k[0]), int(k[1])
        values[t, j, :4] = values[t - 1, j, 3]
        mask[t, j] = False
    return MarketData(
        dates=pd.bdate_range(start, periods=n_days),
        symbols=symbols,
        values=torch.from_numpy(values),
        mask=torch.from_numpy(mask),
        has_range=torch.from_numpy(has_range),
        has_volume=torch.from_numpy(has_range.copy()),
        has_spread=torch.zeros(n, dtype=torch.bool),
        provenance={s: Provenance("synthetic", "test random walk") for s in symbols},
    )
