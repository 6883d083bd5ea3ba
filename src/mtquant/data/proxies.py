"""Labelled proxies for instruments no installed package ships (gold, the Dow), seeded.

Both are built on the aligned real data and pinned to documented start/end levels with a constant
daily drift, so their price levels are realistic; their day-to-day moves are a model, not history.

- US30 (Dow Jones Industrial Average): ``r_US30 = alpha + BETA_US30 * r_SPX + e``,
  ``e ~ N(0, IDIO_US30)`` on days the S&P 500 traded (US30 copies SPX500's mask; on filled days it
  is filled too). beta 0.95 and 0.4 %/day idiosyncratic vol give a ~0.95 daily correlation with the
  S&P 500, as the two indices show historically.
- XAUUSD (gold): ``r_XAU = alpha + beta * r_USD + e`` where ``r_USD`` is a dollar-index proxy
  return from the FX pairs (:func:`dollar_index_returns`), ``beta`` is set so that gold's
  daily volatility is ``GOLD_VOL_ANNUAL`` (16 %) and its correlation with the dollar proxy is
  ``GOLD_USD_CORR`` (-0.4); ``e`` is Gaussian. Gold trades every market day (mask all True).

Levels: Dow 9184.27 on 1999-01-04 and 23327.46 on 2018-12-31; gold ~288 USD/oz in early
January 1999 and ~1280 USD/oz at the end of 2018 (approximate London fixes). When the window is
different, the drift is pro-rated (the same annual drift as over 1999-2018).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtquant.data.market_data import Provenance

BETA_US30 = 0.95  # daily beta of the Dow on the S&P 500
IDIO_US30 = 0.004  # daily idiosyncratic volatility of the Dow vs the S&P 500
GOLD_VOL_ANNUAL = 0.16  # gold's long-run annualised volatility
GOLD_USD_CORR = -0.4  # daily correlation of gold with a dollar index
DXY_WEIGHTS = {"EURUSD": -0.693, "GBPUSD": -0.143, "USDJPY": 0.164}  # DXY weights, renormalised
ANCHORS = {  # symbol -> (date, level), (date, level)
    "US30": (("1999-01-04", 9184.27), ("2018-12-31", 23327.46)),
    "XAUUSD": (("1999-01-04", 288.0), ("2018-12-31", 1280.0)),
}
PROXY_PARENTS = {"US30": ("SPX500",), "XAUUSD": tuple(DXY_WEIGHTS)}


def dollar_index_returns(log_returns: dict[str, np.ndarray]) -> np.ndarray:
    """``[T]`` daily log return of a dollar index proxy: the ICE DXY weights of EUR (57.6 %),
    JPY (13.6 %) and GBP (11.9 %) renormalised to sum to 1; positive = the dollar strengthens
    (so EURUSD and GBPUSD enter with a minus sign, USDJPY with a plus)."""
    return sum(w * log_returns[s] for s, w in DXY_WEIGHTS.items())  # type: ignore[return-value]


def _level_path(log_ret: np.ndarray, dates: pd.DatetimeIndex, symbol: str) -> np.ndarray:
    """Prices from daily log returns plus the constant drift that joins the anchor levels."""
    (d0, p0), (d1, p1) = ANCHORS[symbol]
    years = (pd.Timestamp(d1) - pd.Timestamp(d0)).days / 365.25
    annual = np.log(p1 / p0) / years
    span_years = (dates[-1] - dates[0]).days / 365.25
    start = p0 * np.exp(annual * (dates[0] - pd.Timestamp(d0)).days / 365.25)
    target_total = annual * span_years
    drift = (target_total - log_ret[1:].sum()) / max(len(dates) - 1, 1)
    steps = np.concatenate([[0.0], log_ret[1:] + drift])
    return start * np.exp(np.cumsum(steps))


def us30_proxy(
    spx_close: np.ndarray, spx_mask: np.ndarray, dates: pd.DatetimeIndex, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, Provenance]:
    """``([T] close, [T] mask, provenance)`` of the Dow proxy from the aligned S&P 500 close."""
    r_spx = np.diff(np.log(spx_close), prepend=np.log(spx_close[0]))
    idio = rng.normal(0.0, IDIO_US30, size=len(dates)) * spx_mask
    close = _level_path(BETA_US30 * r_spx + idio, dates, "US30")
    note = (
        f"PROXY: factor model on SPX500 log returns, beta {BETA_US30}, Gaussian idiosyncratic "
        f"vol {IDIO_US30:.2%}/day, drift pinned to the Dow's 9184.27 (1999-01-04) and "
        f"23327.46 (2018-12-31); seeded"
    )
    return close, spx_mask.copy(), Provenance("proxy", "model:us30_factor(SPX500)", note)


def gold_proxy(
    fx_close: dict[str, np.ndarray], dates: pd.DatetimeIndex, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, Provenance]:
    """``([T] close, [T] mask, provenance)`` of the gold proxy from the aligned FX closes."""
    rets = {s: np.diff(np.log(c), prepend=np.log(c[0])) for s, c in fx_close.items()}
    r_usd = dollar_index_returns(rets)
    sigma = GOLD_VOL_ANNUAL / np.sqrt(252.0)
    beta = GOLD_USD_CORR * sigma / max(float(np.std(r_usd[1:])), 1e-12)
    idio = rng.normal(0.0, sigma * np.sqrt(1.0 - GOLD_USD_CORR**2), size=len(dates))
    close = _level_path(beta * r_usd + idio, dates, "XAUUSD")
    note = (
        f"PROXY: gold model, {GOLD_VOL_ANNUAL:.0%} annual vol, correlation "
        f"{GOLD_USD_CORR} with a dollar-index proxy from EURUSD/GBPUSD/USDJPY (DXY weights), "
        f"beta {beta:.3f}, drift pinned to ~288 (1999-01-04) and ~1280 USD/oz (2018-12-31); "
        f"seeded"
    )
    mask = np.ones(len(dates), dtype=bool)
    return close, mask, Provenance("proxy", "model:gold_dollar(EURUSD,GBPUSD,USDJPY)", note)
