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
:mod:`mtquant.data.proxies`, generated causally from the first packaged date (a later
``data.start`` slices the same path). Parsed series are cached in-process (they are immutable inputs);
callers get copies.
"""

from __future__ import annotations

import functools
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mtquant.config.data import DataConfig
from mtquant.data.align import align, dated_provenance, to_market_data
from mtquant.data.bars import Bars, make_bars
from mtquant.data.market_data import FIELDS, MarketData, Provenance
from mtquant.data.proxies import (
    PROXY_PARENTS,
    PROXY_START,
    SPREAD_REFERENCE,
    gold_proxy,
    us30_proxy,
)
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


def load_packaged(
    data_cfg: DataConfig, symbols: list[str], table_spread: Mapping[str, float] | None = None
) -> MarketData:
    """Real packaged series plus the labelled proxies (US30, XAUUSD) for ``symbols``.

    ``table_spread`` (symbol -> the instrument table's spread, price units): each proxy bar then
    quotes it as a constant fraction of the price (:data:`~mtquant.data.proxies.SPREAD_REFERENCE`);
    without it the proxies quote no spread and fills pay the table's constant one.
    """
    unknown = [s for s in symbols if s not in PACKAGED_SYMBOLS]
    if unknown:
        raise DataError(
            f"data.source=packaged: unknown symbol {unknown[0]}; "
            f"available: {', '.join(PACKAGED_SYMBOLS)}"
        )
    spreads = tuple(
        sorted((s, float(v)) for s, v in (table_spread or {}).items() if s in PROXY_PARENTS)
    )
    key = (tuple(symbols), data_cfg.start, data_cfg.end, data_cfg.max_ffill_days, data_cfg.seed)
    return _copy(_packaged_cached(*key, spreads))


@functools.lru_cache(maxsize=8)
def _packaged_cached(
    symbols: tuple[str, ...],
    start: str | None,
    end: str | None,
    max_ffill: int,
    seed: int,
    spreads: tuple[tuple[str, float], ...] = (),
) -> MarketData:
    proxies = [s for s in symbols if s in PROXY_PARENTS]
    real = list(
        dict.fromkeys(
            [s for s in symbols if s not in PROXY_PARENTS]
            + [p for s in proxies for p in PROXY_PARENTS[s]]
        )
    )
    bars = {s: packaged_real(s) for s in real}
    base = to_market_data(align(bars, start, end, max_ffill), bars)
    if not proxies:
        return base.select(list(symbols))
    # the proxies start on the first packaged date whatever data.start is: a later window is a
    # slice of the same path (same symbols, so the same calendar), never a re-started one
    later_start = start is not None and pd.Timestamp(start) > pd.Timestamp(PROXY_START)
    history = (
        to_market_data(align(bars, PROXY_START, end, max_ffill), bars) if later_start else base
    )
    return add_proxies(base, proxies, seed, history, dict(spreads)).select(list(symbols))


def add_proxies(
    base: MarketData,
    proxies: list[str],
    seed: int,
    history: MarketData | None = None,
    table_spread: Mapping[str, float] | None = None,
) -> MarketData:
    """Append the seeded proxies (close-only) to ``base``.

    They are generated causally on ``history`` (the same instruments aligned from the first
    packaged date, :data:`~mtquant.data.proxies.PROXY_START`; ``base`` itself by default) and
    taken on ``base``'s dates, so a proxy's value on a day depends neither on ``data.start`` nor
    on ``data.end``. The parents' closes are already aligned: a forward-filled day is a zero
    return, so the fill adds no information either. A proxy in ``table_spread`` quotes that
    spread per bar as a constant fraction of its price (``spread * close / SPREAD_REFERENCE``).
    """
    if not proxies:
        return base
    history = base if history is None else history
    rows = history.dates.get_indexer(base.dates)
    if (rows < 0).any():
        missing = base.dates[rows < 0][0].date()
        raise DataError(f"packaged proxies: {missing} is not in the proxies' history calendar")
    close = history.close.numpy()
    mask = history.mask.numpy()
    idx = {s: k for k, s in enumerate(history.symbols)}
    cols, masks, prov = [], [], dict(base.provenance)
    for sym in proxies:
        rng = np.random.default_rng([seed, PROXY_STREAM[sym]])
        if sym == "US30":
            spx = idx["SPX500"]
            c, m, p = us30_proxy(close[:, spx], mask[:, spx], history.dates, rng)
        else:
            fx = {s: close[:, idx[s]] for s in PROXY_PARENTS["XAUUSD"]}
            c, m, p = gold_proxy(fx, history.dates, rng)
        cols.append(c[rows])
        masks.append(m[rows])
        prov[sym] = dated_provenance(p, base.dates)
    extra = _close_only(np.stack(cols, axis=1))
    quoted = [s in (table_spread or {}) for s in proxies]
    for k, sym in enumerate(proxies):
        if quoted[k]:
            fraction = float(table_spread[sym]) / SPREAD_REFERENCE[sym]  # type: ignore[index]
            extra[:, k, FIELDS.index("spread")] = fraction * extra[:, k, FIELDS.index("close")]
    n_extra = len(proxies)
    return MarketData(
        dates=base.dates,
        symbols=[*base.symbols, *proxies],
        values=torch.cat([base.values, torch.from_numpy(extra)], dim=1),
        mask=torch.cat([base.mask, torch.from_numpy(np.stack(masks, axis=1))], dim=1),
        has_range=torch.cat([base.has_range, torch.zeros(n_extra, dtype=torch.bool)]),
        has_volume=torch.cat([base.has_volume, torch.zeros(n_extra, dtype=torch.bool)]),
        has_spread=torch.cat([base.has_spread, torch.tensor(quoted, dtype=torch.bool)]),
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
