"""Real daily series shipped inside installed packages, read offline.

- EURUSD, GBPUSD, USDJPY: ECB euro reference rates (``currency_converter``'s
  ``eurofxref-hist.zip``; one fixing a TARGET day at 14:15 CET, quoted as units per EUR).
  EURUSD = USD, GBPUSD = USD / GBP, USDJPY = JPY / USD. Close-only (a fixing has no range).
- SPX500, NAS100: S&P 500 and NASDAQ Composite daily OHLCV from ``arch.data.sp500`` /
  ``arch.data.nasdaq`` (Yahoo Finance, 1999-01-04 to 2018-12-31); ``Adj Close`` is ignored.
- WTIUSD: WTI Cushing spot (FRED ``DCOILWTICO``) from ``arch.data.wti``, close-only. FRED marks
  US holidays with an empty value: those rows are dropped as missing days (alignment fills or
  reports them); any other problem is a validation error.

:func:`load_packaged` aligns the real series and appends the labelled proxies (US30, XAUUSD) of
:mod:`mtquant.data.proxies`. Parsed series are cached in-process (they are immutable inputs);
callers get copies.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mtquant.config.data import DataConfig
from mtquant.data.align import align, dated_provenance, to_market_data
from mtquant.data.bars import Bars, make_bars
from mtquant.data.market_data import FIELDS, MarketData, Provenance
from mtquant.data.proxies import PROXY_PARENTS, gold_proxy, us30_proxy
from mtquant.data.validation import check_bars, date_rows
from mtquant.errors import DataError

ECB_ZIP = "currency_converter/eurofxref-hist.zip"
ECB_PAIRS = {  # symbol -> (numerator, denominator) of EUR-based rates
    "EURUSD": ("USD", None),
    "GBPUSD": ("USD", "GBP"),
    "USDJPY": ("JPY", "USD"),
}
ARCH_OHLCV = {"SPX500": "sp500", "NAS100": "nasdaq"}
REAL_SYMBOLS = (*ECB_PAIRS, "WTIUSD", *ARCH_OHLCV)
PACKAGED_SYMBOLS = (*REAL_SYMBOLS, *PROXY_PARENTS)
PROXY_STREAM = {"US30": 1, "XAUUSD": 2}  # independent seeded streams per proxy


def ecb_zip_path() -> Path:
    """Location of ``eurofxref-hist.zip`` inside the installed ``currency_converter``."""
    import currency_converter

    return Path(currency_converter.__file__).parent / "eurofxref-hist.zip"


@functools.lru_cache(maxsize=1)
def ecb_rates() -> pd.DataFrame:
    """ECB reference rates (units per EUR) for USD, JPY and GBP, by date ascending."""
    with zipfile.ZipFile(ecb_zip_path()) as zf, zf.open(zf.namelist()[0]) as fh:
        table = pd.read_csv(fh, usecols=["Date", "USD", "JPY", "GBP"], na_values=["N/A"])
    table["Date"] = pd.to_datetime(table["Date"], format="%Y-%m-%d")
    return table.set_index("Date").sort_index()


def ecb_pair(symbol: str) -> Bars:
    """EURUSD / GBPUSD / USDJPY close from the ECB fixings (rows where a leg is N/A dropped)."""
    num, den = ECB_PAIRS[symbol]
    rates = ecb_rates()
    close = rates[num] if den is None else rates[num] / rates[den]
    close = close.dropna()
    frame = pd.DataFrame({"close": close.to_numpy()}, index=close.index)
    check_bars(frame, file=ECB_ZIP, where=date_rows(frame.index))
    formula = f"ECB {num}" + ("" if den is None else f" / ECB {den}") + " (rates per EUR)"
    return make_bars(frame, Provenance("real", "ECB reference rates (currency_converter)", formula))


@functools.cache
def _arch_frame(name: str) -> pd.DataFrame:
    import importlib

    return importlib.import_module(f"arch.data.{name}").load()


def arch_ohlcv(symbol: str) -> Bars:
    """S&P 500 / NASDAQ Composite daily OHLCV (``Adj Close`` ignored)."""
    name = ARCH_OHLCV[symbol]
    raw = _arch_frame(name)
    frame = raw[["Open", "High", "Low", "Close", "Volume"]].astype("float64")
    frame.columns = ["open", "high", "low", "close", "volume"]
    frame.index = pd.DatetimeIndex(raw.index)
    check_bars(frame, file=f"arch.data.{name}", where=date_rows(frame.index))
    index = "S&P 500" if name == "sp500" else "NASDAQ Composite"
    return make_bars(
        frame, Provenance("real", f"arch.data.{name}", f"{index} index daily OHLCV (Yahoo Finance)")
    )


def wti_spot() -> Bars:
    """WTI Cushing spot close (FRED DCOILWTICO); FRED's holiday blanks are missing days."""
    raw = _arch_frame("wti")["DCOILWTICO"].dropna()
    frame = pd.DataFrame(
        {"close": raw.to_numpy(dtype="float64")}, index=pd.DatetimeIndex(raw.index)
    )
    check_bars(frame, file="arch.data.wti", where=date_rows(frame.index))
    return make_bars(
        frame, Provenance("real", "arch.data.wti", "WTI Cushing spot, FRED DCOILWTICO (close only)")
    )


def packaged_real(symbol: str) -> Bars:
    """The real packaged series of ``symbol`` (one of :data:`REAL_SYMBOLS`)."""
    if symbol in ECB_PAIRS:
        return ecb_pair(symbol)
    if symbol in ARCH_OHLCV:
        return arch_ohlcv(symbol)
    return wti_spot()


def load_packaged(data_cfg: DataConfig, symbols: list[str]) -> MarketData:
    """Real packaged series plus the labelled proxies (US30, XAUUSD) for ``symbols``."""
    unknown = [s for s in symbols if s not in PACKAGED_SYMBOLS]
    if unknown:
        raise DataError(
            f"data.source=packaged: unknown symbol {unknown[0]}; "
            f"available: {', '.join(PACKAGED_SYMBOLS)}"
        )
    key = (tuple(symbols), data_cfg.start, data_cfg.end, data_cfg.max_ffill_days, data_cfg.seed)
    return _copy(_packaged_cached(*key))


@functools.lru_cache(maxsize=8)
def _packaged_cached(
    symbols: tuple[str, ...], start: str | None, end: str | None, max_ffill: int, seed: int
) -> MarketData:
    proxies = [s for s in symbols if s in PROXY_PARENTS]
    real = list(
        dict.fromkeys(
            [s for s in symbols if s not in PROXY_PARENTS]
            + [p for s in proxies for p in PROXY_PARENTS[s]]
        )
    )
    bars = {s: packaged_real(s) for s in real}
    aligned = align(bars, start, end, max_ffill)
    base = to_market_data(aligned, bars)
    return add_proxies(base, proxies, seed).select(list(symbols))


def add_proxies(base: MarketData, proxies: list[str], seed: int) -> MarketData:
    """Append the seeded proxies (close-only) built on the aligned real data."""
    if not proxies:
        return base
    close = base.close.numpy()
    mask = base.mask.numpy()
    idx = {s: k for k, s in enumerate(base.symbols)}
    cols, masks, prov = [], [], dict(base.provenance)
    for sym in proxies:
        rng = np.random.default_rng([seed, PROXY_STREAM[sym]])
        if sym == "US30":
            c, m, p = us30_proxy(close[:, idx["SPX500"]], mask[:, idx["SPX500"]], base.dates, rng)
        else:
            fx = {s: close[:, idx[s]] for s in PROXY_PARENTS["XAUUSD"]}
            c, m, p = gold_proxy(fx, base.dates, rng)
        cols.append(c)
        masks.append(m)
        prov[sym] = dated_provenance(p, base.dates)
    extra = _close_only(np.stack(cols, axis=1))
    n_extra = len(proxies)
    return MarketData(
        dates=base.dates,
        symbols=[*base.symbols, *proxies],
        values=torch.cat([base.values, torch.from_numpy(extra)], dim=1),
        mask=torch.cat([base.mask, torch.from_numpy(np.stack(masks, axis=1))], dim=1),
        has_range=torch.cat([base.has_range, torch.zeros(n_extra, dtype=torch.bool)]),
        has_volume=torch.cat([base.has_volume, torch.zeros(n_extra, dtype=torch.bool)]),
        has_spread=torch.cat([base.has_spread, torch.zeros(n_extra, dtype=torch.bool)]),
        provenance=prov,
        gaps=list(base.gaps),
    )


def _close_only(close: np.ndarray) -> np.ndarray:
    """``[T, N]`` closes -> ``[T, N, F]`` flat bars (open = high = low = close, no volume/spread)."""
    values = np.zeros((*close.shape, len(FIELDS)))
    values[..., :4] = close[..., None]
    return values


def _copy(data: MarketData) -> MarketData:
    """A copy a caller may mutate without touching the cache."""
    return MarketData(
        dates=data.dates,
        symbols=list(data.symbols),
        values=data.values.clone(),
        mask=data.mask.clone(),
        has_range=data.has_range.clone(),
        has_volume=data.has_volume.clone(),
        has_spread=data.has_spread.clone(),
        provenance=dict(data.provenance),
        gaps=list(data.gaps),
    )
