"""The 48 market features of the per-instrument observation, vectorised over ``[T, N]``.

Prices are in float64; row ``t`` uses rows ``<= t`` only; rows whose lookback is incomplete hold
NaN (at most :data:`OBS_LOOKBACK` rows). Where an instrument has no real range
(``has_range`` False: open = high = low = close), range features use the close-to-close proxy
(the true range reduces to ``|C[t] - C[t-1]|``) or a neutral 0, and ``has_range_flag`` tells the
policy which is which; no high-low range is ever invented.
"""

from __future__ import annotations

import math

import torch

from mtquant.data.market_data import MarketData
from mtquant.features import calendar
from mtquant.features.rolling import (
    ema,
    lag,
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_skew,
    rolling_std,
    rolling_sum,
    wilder,
)

OBS_LOOKBACK = 252  # momentum 12-1 reads close[t - 252]

OBS_NAMES: list[str] = [
    # log returns over horizons
    "ret_1d", "ret_2d", "ret_5d", "ret_10d", "ret_20d", "ret_60d",
    # returns in units of the EWMA daily vol x sqrt(horizon)
    "ret_1d_volz", "ret_5d_volz", "ret_20d_volz",
    # volatility of daily log returns (ddof=1) and the EWMA risk vol
    "rvol_5", "rvol_20", "rvol_60", "ewma_vol",
    "vol_ratio_5_20", "vol_ratio_20_60", "downside_vol_20", "skew_60",
    # range (close-to-close proxy / neutral 0 where has_range is False)
    "atr_14_pct", "range_pct", "close_location", "gap_open",
    # oscillators
    "rsi_14", "stoch_k_14", "macd_pct", "macd_signal_pct", "macd_hist_pct",
    # mean reversion and trend
    "zscore_20", "zscore_60", "zscore_120", "dist_sma_50", "dist_sma_200",
    "efficiency_ratio_10",
    # distance to rolling highs / lows (log)
    "dist_high_20", "dist_low_20", "dist_high_252", "dist_low_252",
    # momentum skipping the last month
    "mom_12_1", "mom_6_1",
    "volume_ratio_20",
    # calendar
    "dow_sin", "dow_cos", "month_sin", "month_cos", "month_end_flag",
    # data-quality flags
    "has_range_flag", "has_volume_flag", "observed", "observed_frac_20",
]  # fmt: skip

# Already bounded (flags, calendar, oscillators): left as they are by the z-score normalisation.
RAW_FEATURES: frozenset[str] = frozenset({
    "close_location", "rsi_14", "stoch_k_14", "efficiency_ratio_10",
    "dow_sin", "dow_cos", "month_sin", "month_cos", "month_end_flag",
    "has_range_flag", "has_volume_flag", "observed", "observed_frac_20",
})  # fmt: skip


def _safe_div(num: torch.Tensor, den: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """``num / den`` where ``|den| > 1e-12``, else ``fill`` (NaN inputs stay NaN)."""
    ok = den.abs() > 1e-12
    out = num / torch.where(ok, den, torch.ones_like(den))
    return torch.where(ok | torch.isnan(den), out, torch.full_like(out, fill))


def rsi(close: torch.Tensor, n: int = 14) -> torch.Tensor:
    """Wilder's RSI in [0, 100] (seeded with the mean of the first ``n`` changes, as TA-Lib);
    50 when there was no change at all. NaN before row ``n``."""
    d = close - lag(close, 1)
    gain, loss = d.clamp_min(0.0), (-d).clamp_min(0.0)
    g, lo = wilder(gain, n, start=1), wilder(loss, n, start=1)
    return _safe_div(100.0 * g, g + lo, fill=50.0)


def instrument_features(
    data: MarketData, vol: torch.Tensor, usd_vol_floor: float = 1e-4
) -> torch.Tensor:
    """``[T, N, 48]`` float64 raw features named :data:`OBS_NAMES` (``vol``: ``[T, N]`` EWMA)."""
    c = data.close.double()
    o, h, lo = (data.field(f).double() for f in ("open", "high", "low"))
    v = data.field("volume").double()
    t_len, n = c.shape
    rng = data.has_range.to(torch.bool)[None, :].expand(t_len, n)
    lc = torch.log(c)
    lr = lc - lag(lc, 1)
    cp = lag(c, 1)
    vol = vol.double().clamp_min(usd_vol_floor)
    nan_rows = torch.isnan(lr)
    feats: dict[str, torch.Tensor] = {}

    for hz in (1, 2, 5, 10, 20, 60):
        feats[f"ret_{hz}d"] = lc - lag(lc, hz)
    for hz in (1, 5, 20):
        feats[f"ret_{hz}d_volz"] = feats[f"ret_{hz}d"] / (vol * math.sqrt(hz))
    for w in (5, 20, 60):
        feats[f"rvol_{w}"] = rolling_std(lr, w)
    feats["ewma_vol"] = torch.where(nan_rows, torch.nan, vol)
    feats["vol_ratio_5_20"] = _safe_div(feats["rvol_5"], feats["rvol_20"], 1.0)
    feats["vol_ratio_20_60"] = _safe_div(feats["rvol_20"], feats["rvol_60"], 1.0)
    feats["downside_vol_20"] = torch.sqrt(rolling_mean(lr.clamp_max(0.0) ** 2, 20))
    feats["skew_60"] = rolling_skew(lr, 60)

    tr = torch.maximum(h - lo, torch.maximum((h - cp).abs(), (lo - cp).abs()))
    feats["atr_14_pct"] = wilder(tr, 14, start=1) / c
    feats["range_pct"] = torch.where(rng, (h - lo) / c, (c / cp - 1.0).abs())
    loc = _safe_div(c - lo, h - lo, 0.5) - 0.5
    feats["close_location"] = torch.where(rng, loc, torch.zeros_like(loc))
    feats["gap_open"] = torch.where(rng, torch.log(o / cp), torch.where(nan_rows, torch.nan, 0.0))

    feats["rsi_14"] = (rsi(c, 14) - 50.0) / 50.0
    hh, ll = rolling_max(h, 14), rolling_min(lo, 14)
    feats["stoch_k_14"] = 2.0 * _safe_div(c - ll, hh - ll, 0.5) - 1.0
    macd = ema(c, 12) - ema(c, 26)
    signal = ema(macd, 9)
    warm = torch.arange(t_len)[:, None] < 34  # 26-day slow EMA, then the 9-day signal
    feats["macd_pct"] = torch.where(warm, torch.nan, macd / c)
    feats["macd_signal_pct"] = torch.where(warm, torch.nan, signal / c)
    feats["macd_hist_pct"] = feats["macd_pct"] - feats["macd_signal_pct"]

    for w in (20, 60, 120):
        feats[f"zscore_{w}"] = _safe_div(c - rolling_mean(c, w), rolling_std(c, w), 0.0)
    feats["dist_sma_50"] = torch.log(c / rolling_mean(c, 50))
    feats["dist_sma_200"] = torch.log(c / rolling_mean(c, 200))
    path = rolling_sum((c - cp).abs(), 10)
    feats["efficiency_ratio_10"] = _safe_div((c - lag(c, 10)).abs(), path, 0.0)

    for w in (20, 252):
        feats[f"dist_high_{w}"] = torch.log(c / rolling_max(h, w))
        feats[f"dist_low_{w}"] = torch.log(c / rolling_min(lo, w))
    feats["mom_12_1"] = lag(lc, 21) - lag(lc, 252)
    feats["mom_6_1"] = lag(lc, 21) - lag(lc, 126)
    has_vol = data.has_volume.to(torch.bool)[None, :].expand(t_len, n)
    vr = torch.log1p(v) - torch.log1p(rolling_mean(v, 20))
    feats["volume_ratio_20"] = torch.where(has_vol, vr, torch.where(torch.isnan(vr), vr, 0.0))

    def per_day(x: torch.Tensor) -> torch.Tensor:
        return x[:, None].expand(t_len, n)

    dow_s, dow_c = calendar.day_of_week_encoding(data.dates)
    mon_s, mon_c = calendar.month_encoding(data.dates)
    feats["dow_sin"], feats["dow_cos"] = per_day(dow_s), per_day(dow_c)
    feats["month_sin"], feats["month_cos"] = per_day(mon_s), per_day(mon_c)
    feats["month_end_flag"] = per_day(calendar.month_end_flag(data.dates))
    feats["has_range_flag"] = rng.double()
    feats["has_volume_flag"] = has_vol.double()
    mask = data.mask.double()
    feats["observed"] = mask
    feats["observed_frac_20"] = rolling_mean(mask, 20)
    return torch.stack([feats[name] for name in OBS_NAMES], dim=-1)
