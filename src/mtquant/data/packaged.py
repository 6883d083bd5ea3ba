"""Real daily series shipped inside installed packages, read offline.

- EURUSD, GBPUSD, USDJPY: ECB euro reference rates (``currency_converter``'s
  ``eurofxref-hist.zip``; one fixing a TARGET day at 14:15 CET, quoted as units per EUR).
  EURUSD = USD, GBPUSD = USD / GBP, USDJPY = JPY / USD. Close-only (a fixing has no range).
- SPX500, NAS100: S&P 500 and NASDAQ Composite daily OHLCV from ``arch.data.sp500`` /
  ``arch.data.nasdaq`` (Yahoo Finance, 1999-01-04 to 2018-12-31); ``Adj Close`` is ignored.
- WTIUSD: WTI Cushing spot (FRED ``DCOILWTICO``) from ``arch.data.wti``, close-only. FRED marks
  US holidays with an empty value: those rows are dropped as missing days (alignment fills or
  reports them); any other problem is a validation error.

Parsed series are cached in-process (they are immutable inputs); callers get copies.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import pandas as pd

from mtquant.data.bars import Bars, make_bars
from mtquant.data.market_data import Provenance
from mtquant.data.validation import check_bars, date_rows

ECB_ZIP = "currency_converter/eurofxref-hist.zip"
ECB_PAIRS = {  # symbol -> (numerator, denominator) of EUR-based rates
    "EURUSD": ("USD", None),
    "GBPUSD": ("USD", "GBP"),
    "USDJPY": ("JPY", "USD"),
}
ARCH_OHLCV = {"SPX500": "sp500", "NAS100": "nasdaq"}
REAL_SYMBOLS = (*ECB_PAIRS, "WTIUSD", *ARCH_OHLCV)


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
