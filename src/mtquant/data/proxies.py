"""Labelled proxies for instruments no installed package ships (gold, the Dow), seeded and causal.

Both are factor models on the aligned real data with fixed, documented constants, started at a
documented level on the first packaged date and compounded forward with NO drift. The value at
date t is a function of the parents' closes up to t, the constants and the seeded noise of days
up to t only, so cutting ``data.end`` (or moving ``data.start``, see
:func:`mtquant.data.packaged.add_proxies`) never changes an earlier value, and nothing in the
path is fitted to, or pinned at, a later date.

- US30 (Dow Jones Industrial Average): ``r_US30[t] = BETA_US30 * r_SPX[t] + e[t]``,
  ``e ~ N(0, IDIO_US30)`` on days the S&P 500 traded (US30 copies SPX500's mask; on filled days
  both are flat). beta 0.95 and 0.4 %/day idiosyncratic vol give a ~0.94 daily correlation with
  the S&P 500, as the two indices show historically. No alpha: ``r_US30 - 0.95 r_SPX`` is pure
  zero-mean noise, nothing an agent could learn.
- XAUUSD (gold): ``r_XAU[t] = BETA_XAU * r_USD[t] + e[t]`` where ``r_USD`` is a dollar-index proxy
  return from the FX pairs (:func:`dollar_index_returns`). ``BETA_XAU = GOLD_USD_CORR *
  GOLD_VOL_DAILY / DXY_VOL_DAILY = -0.8`` and ``e ~ N(0, GOLD_VOL_DAILY * sqrt(1 - GOLD_USD_CORR^2))``
  give gold a 16 % annual volatility and a -0.4 correlation with a dollar index of 8 % annual
  volatility. Gold trades every market day (mask all True).

Costs: a proxy bar quotes the instrument table's spread as a constant fraction of its price
(:data:`SPREAD_REFERENCE`), so its trading costs do not depend on where the driftless path wanders.

Start levels (:data:`START_LEVELS`): Dow 9184.27 (its close on 1999-01-04), gold 288 USD/oz
(about the London fix in early January 1999). Noise: ``Generator.normal(size=n)[:k]`` equals
``Generator.normal(size=k)`` for numpy's Generator, so the noise of day k is the same whatever
the number of days generated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtquant.data.market_data import Provenance

TRADING_DAYS = 252.0  # annualisation of daily volatilities
BETA_US30 = 0.95  # daily beta of the Dow on the S&P 500
IDIO_US30 = 0.004  # daily idiosyncratic volatility of the Dow vs the S&P 500
GOLD_VOL_ANNUAL = 0.16  # gold's long-run annualised volatility
GOLD_USD_CORR = -0.4  # daily correlation of gold with a dollar index
DXY_VOL_ANNUAL = 0.08  # the dollar index's long-run annualised volatility (DXY: ~7-9 %)
GOLD_VOL_DAILY = GOLD_VOL_ANNUAL / np.sqrt(TRADING_DAYS)  # ~1.01 %/day
DXY_VOL_DAILY = DXY_VOL_ANNUAL / np.sqrt(TRADING_DAYS)  # ~0.50 %/day
BETA_XAU = GOLD_USD_CORR * GOLD_VOL_DAILY / DXY_VOL_DAILY  # -0.4 * 0.16 / 0.08 = -0.8
IDIO_XAU = GOLD_VOL_DAILY * np.sqrt(1.0 - GOLD_USD_CORR**2)  # ~0.92 %/day
DXY_WEIGHTS = {"EURUSD": -0.693, "GBPUSD": -0.143, "USDJPY": 0.164}  # DXY weights, renormalised
PROXY_START = "1999-01-04"  # proxies are generated from here (the first packaged date) on
START_LEVELS = {  # symbol -> (first packaged date, documented level that day)
    "US30": (PROXY_START, 9184.27),  # the Dow's close on 1999-01-04
    "XAUUSD": (PROXY_START, 288.0),  # gold, about the London fix in early January 1999
}
PROXY_PARENTS = {"US30": ("SPX500",), "XAUUSD": tuple(DXY_WEIGHTS)}
# The price level at which the instrument table's spread of a proxy is quoted (late-2010s levels,
# where those retail spreads were observed): a proxy bar quotes ``spread * close / level``, the
# same fraction of the price at every level, because a driftless proxy can wander far from it
SPREAD_REFERENCE = {"US30": 25000.0, "XAUUSD": 1300.0}
CAUSAL = "causal: each day uses data up to that day only"


def dollar_index_returns(log_returns: dict[str, np.ndarray]) -> np.ndarray:
    """``[T]`` daily log return of a dollar index proxy: the ICE DXY weights of EUR (57.6 %),
    JPY (13.6 %) and GBP (11.9 %) renormalised to sum to 1; positive = the dollar strengthens
    (so EURUSD and GBPUSD enter with a minus sign, USDJPY with a plus)."""
    return sum(w * log_returns[s] for s, w in DXY_WEIGHTS.items())  # type: ignore[return-value]


def _log_returns(close: np.ndarray) -> np.ndarray:
    """``[T]`` log returns with 0 on the first day (each uses closes t-1 and t only)."""
    return np.diff(np.log(close), prepend=np.log(close[0]))


def _level_path(log_ret: np.ndarray, symbol: str) -> np.ndarray:
    """Prices compounded from the symbol's start level: ``p[t] = p0 * exp(sum(r[1..t]))``.

    No drift and nothing fitted: ``p[t]`` uses the returns up to t only (``r[0]`` is ignored,
    the first day is the start level)."""
    steps = np.concatenate([[0.0], log_ret[1:]])
    return START_LEVELS[symbol][1] * np.exp(np.cumsum(steps))


def us30_proxy(
    spx_close: np.ndarray, spx_mask: np.ndarray, dates: pd.DatetimeIndex, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, Provenance]:
    """``([T] close, [T] mask, provenance)`` of the Dow proxy from the aligned S&P 500 close.

    ``dates[0]`` is the start date of :data:`START_LEVELS` (the caller generates from there)."""
    idio = rng.normal(0.0, IDIO_US30, size=len(dates)) * spx_mask
    close = _level_path(BETA_US30 * _log_returns(spx_close) + idio, "US30")
    day, level = START_LEVELS["US30"]
    note = (
        f"PROXY: factor model r = {BETA_US30} r_SPX500 + e, no drift, Gaussian idiosyncratic "
        f"e of {IDIO_US30:.2%}/day on days SPX500 traded; starts at the Dow's {level} on "
        f"{day}; seeded; {CAUSAL}"
    )
    return close, spx_mask.copy(), Provenance("proxy", "model:us30_factor(SPX500)", note)


def gold_proxy(
    fx_close: dict[str, np.ndarray], dates: pd.DatetimeIndex, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, Provenance]:
    """``([T] close, [T] mask, provenance)`` of the gold proxy from the aligned FX closes.

    ``dates[0]`` is the start date of :data:`START_LEVELS` (the caller generates from there)."""
    r_usd = dollar_index_returns({s: _log_returns(c) for s, c in fx_close.items()})
    idio = rng.normal(0.0, IDIO_XAU, size=len(dates))
    close = _level_path(BETA_XAU * r_usd + idio, "XAUUSD")
    day, level = START_LEVELS["XAUUSD"]
    note = (
        f"PROXY: gold model r = {BETA_XAU:.2f} r_USD + e, no drift; r_USD a dollar-index proxy "
        f"from EURUSD/GBPUSD/USDJPY (DXY weights); fixed constants: gold vol "
        f"{GOLD_VOL_ANNUAL:.0%}/yr, correlation {GOLD_USD_CORR} with the dollar, dollar vol "
        f"{DXY_VOL_ANNUAL:.0%}/yr, Gaussian e of {IDIO_XAU:.2%}/day; starts at ~{level:.0f} "
        f"USD/oz on {day}; seeded; {CAUSAL}"
    )
    mask = np.ones(len(dates), dtype=bool)
    return close, mask, Provenance("proxy", "model:gold_dollar(EURUSD,GBPUSD,USDJPY)", note)
