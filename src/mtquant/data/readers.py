"""Readers of user-supplied files: MetaTrader 5 history exports, generic CSV and Parquet.

One file per symbol in a folder: ``SYMBOL.csv`` (``mt5_csv``, ``csv``) or ``SYMBOL.parquet``.
Every file goes through :mod:`mtquant.data.validation`; errors name the file, line, column, value.

MT5: tab-separated, header ``<DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE> <TICKVOL> <VOL> <SPREAD>``
(``<TIME>`` optional), dates ``YYYY.MM.DD``. Intraday exports are aggregated per server date
(first open, max high, min low, last close, summed volume, mean spread). Volume is ``<VOL>`` when
the broker reports real volume (any non-zero), else ``<TICKVOL>``. ``<SPREAD>`` is in points; a
point is ``10**-digits`` with ``digits`` the most decimals written in the file's price columns
(EURUSD 1.08345 -> 5 digits -> 0.00001), so the stored spread is in price units.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from mtquant.data.bars import Bars, make_bars
from mtquant.data.market_data import Provenance
from mtquant.data.validation import (
    check_bars,
    date_rows,
    empty_file,
    fail,
    line_rows,
    parse_dates,
    parse_numbers,
)
from mtquant.errors import DataError

MT5_REQUIRED = ("<DATE>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>")
MT5_OPTIONAL = ("<TIME>", "<TICKVOL>", "<VOL>", "<SPREAD>")
GENERIC_REQUIRED = ("date", "close")
GENERIC_OPTIONAL = ("open", "high", "low", "volume", "spread")
EXTENSION = {"mt5_csv": ".csv", "csv": ".csv", "parquet": ".parquet"}


def symbol_file(folder: str | Path, symbol: str, source: str) -> Path:
    """``folder/SYMBOL.<ext>``; a missing folder or file raises naming what is there."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"data.path {str(root)!r}: folder not found (data.source={source})")
    path = root / f"{symbol}{EXTENSION[source]}"
    if not path.is_file():
        there = sorted(p.name for p in root.glob(f"*{EXTENSION[source]}"))
        raise DataError(
            f"{path}: missing file for symbol {symbol} (data.source={source}); "
            f"files there: {', '.join(there) or 'none'}"
        )
    return path


def _read_text(path: Path) -> str:
    """Decode UTF-16 (MT5 'Unicode' exports, with BOM) or UTF-8."""
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig", errors="replace")


def _split_rows(
    path: Path, text: str, delimiter: str
) -> tuple[list[str], list[list[str]], np.ndarray]:
    """Header, data rows and their 1-based line numbers; blank lines are skipped (and counted)."""
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    numbered = [(k + 1, r) for k, r in enumerate(rows) if any(c.strip() for c in r)]
    if not numbered:
        raise empty_file(path.name)
    header = [c.strip() for c in numbered[0][1]]
    data = numbered[1:]
    if not data:
        raise empty_file(path.name)
    width = len(header)
    for line, row in data:
        if len(row) != width and not (len(row) > width and not "".join(row[width:]).strip()):
            raise fail(
                path.name,
                f"line {line}",
                "(row)",
                delimiter.join(row),
                f"unparseable row: {len(row)} fields, header has {width}",
            )
    lines = np.array([line for line, _ in data])
    return header, [r[:width] for _, r in data], lines


def _columns(
    path: Path,
    header: list[str],
    required: tuple[str, ...],
    optional: tuple[str, ...],
    fold_case: bool,
) -> dict[str, int]:
    keys = [h.lower() if fold_case else h.upper() for h in header]
    missing = [c for c in required if c not in keys]
    if missing:
        raise fail(
            path.name,
            "line 1 (header)",
            missing[0],
            "\t".join(header),
            f"header lacks column {missing[0]}; expected {' '.join(required + optional)}",
        )
    return {c: keys.index(c) for c in required + optional if c in keys}


def read_mt5_csv(path: Path, symbol: str) -> Bars:
    """One MT5 history export -> validated daily :class:`Bars` (see module docstring)."""
    header, rows, lines = _split_rows(path, _read_text(path), "\t")
    idx = _columns(path, header, MT5_REQUIRED, MT5_OPTIONAL, fold_case=False)
    cells = np.array(rows, dtype=str)
    date_cells = cells[:, idx["<DATE>"]]
    where = line_rows(lines, date_cells)
    dates = parse_dates(date_cells, file=path.name, where=where, column="<DATE>", fmt="%Y.%m.%d")
    if "<TIME>" in idx:
        times = np.char.strip(cells[:, idx["<TIME>"]])
        times = np.where(np.char.str_len(times) == 5, np.char.add(times, ":00"), times)
        offset = pd.to_timedelta(pd.Series(times), errors="coerce")
        bad = np.flatnonzero(offset.isna().to_numpy())
        if len(bad):
            raise fail(
                path.name,
                where(int(bad[0])),
                "<TIME>",
                str(times[bad[0]]),
                "unparseable time (expected HH:MM:SS)",
            )
        dates = pd.DatetimeIndex(dates + pd.TimedeltaIndex(offset))
    fields = {"open": "<OPEN>", "high": "<HIGH>", "low": "<LOW>", "close": "<CLOSE>"}
    fields |= {
        k: v
        for k, v in (("tickvol", "<TICKVOL>"), ("vol", "<VOL>"), ("spread", "<SPREAD>"))
        if v in idx
    }
    raw = {k: cells[:, idx[v]] for k, v in fields.items()}
    num = parse_numbers(raw, file=path.name, where=where, names=fields)
    frame = pd.DataFrame({k: num[k] for k in ("open", "high", "low", "close")}, index=dates)
    if "vol" in num and np.any(num["vol"] > 0):
        frame["volume"], names_volume = num["vol"], "<VOL>"
    elif "tickvol" in num:
        frame["volume"], names_volume = num["tickvol"], "<TICKVOL>"
    else:
        names_volume = "volume"
    if "spread" in num:
        frame["spread"] = num["spread"] * 10.0 ** -_price_digits(raw)
    names = {**fields, "volume": names_volume, "date": "<DATE>"}
    check_bars(frame, file=path.name, where=where, names=names)
    if np.any(frame.index != frame.index.normalize()):
        frame = _daily(frame)
    return make_bars(
        frame, Provenance("real", f"mt5_csv:{path}", f"MetaTrader 5 export of {symbol}")
    )


def _price_digits(raw: dict[str, np.ndarray]) -> int:
    """Most decimals written in the price columns (the symbol's MT5 ``digits``)."""
    digits = 0
    for col in ("open", "high", "low", "close"):
        s = np.char.strip(raw[col])
        dot = np.char.find(s, ".")
        dec = np.where(dot >= 0, np.char.str_len(s) - dot - 1, 0)
        digits = max(digits, int(dec.max()))
    return digits


def _daily(frame: pd.DataFrame) -> pd.DataFrame:
    """Intraday bars -> one bar per date (first open, max high, min low, last close)."""
    agg = {"open": "first", "high": "max", "low": "min", "close": "last"}
    agg |= {k: v for k, v in (("volume", "sum"), ("spread", "mean")) if k in frame.columns}
    return frame.groupby(frame.index.normalize()).agg(agg)


def read_generic_csv(path: Path, symbol: str) -> Bars:
    """Comma-separated ``date, close`` (+ open, high, low together; volume; spread in price units)."""
    header, rows, lines = _split_rows(path, _read_text(path), ",")
    idx = _columns(path, header, GENERIC_REQUIRED, GENERIC_OPTIONAL, fold_case=True)
    _require_full_range(path.name, idx)
    cells = np.array(rows, dtype=str)
    where = line_rows(lines, cells[:, idx["date"]])
    dates = parse_dates(cells[:, idx["date"]], file=path.name, where=where, column="date", fmt=None)
    num = parse_numbers(
        {c: cells[:, i] for c, i in idx.items() if c != "date"},
        file=path.name,
        where=where,
        names={},
    )
    frame = pd.DataFrame(num, index=dates)
    check_bars(frame, file=path.name, where=where)
    return make_bars(frame, Provenance("real", f"csv:{path}", f"user CSV of {symbol}"))


def read_parquet(path: Path, symbol: str) -> Bars:
    """Parquet with the generic columns; the date is a ``date`` column or a DatetimeIndex."""
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a corrupt file
        raise DataError(f"{path.name}: unreadable Parquet file ({exc})".replace("\n", " ")) from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    if "date" not in table.columns:
        table = table.reset_index(names="date")
    if len(table) == 0:
        raise empty_file(path.name)
    idx = _columns(path, list(table.columns), GENERIC_REQUIRED, GENERIC_OPTIONAL, fold_case=True)
    _require_full_range(path.name, idx)
    rows = lambda i: f"row {i + 1}"  # noqa: E731 - locator before dates parse
    dates = parse_dates(
        table["date"].astype(str).to_numpy(), file=path.name, where=rows, column="date", fmt=None
    )
    where = date_rows(dates)
    cols = [c for c in idx if c != "date"]
    num = parse_numbers(
        {c: table[c].astype(str).to_numpy() for c in cols}, file=path.name, where=where, names={}
    )
    frame = pd.DataFrame(num, index=dates)
    check_bars(frame, file=path.name, where=where)
    return make_bars(frame, Provenance("real", f"parquet:{path}", f"user Parquet of {symbol}"))


def _require_full_range(file: str, idx: dict[str, int]) -> None:
    present = [c for c in ("open", "high", "low") if c in idx]
    if present and len(present) < 3:
        missing = next(c for c in ("open", "high", "low") if c not in idx)
        raise fail(
            file, "line 1 (header)", missing, ",".join(idx), "open, high and low go together"
        )


READERS = {"mt5_csv": read_mt5_csv, "csv": read_generic_csv, "parquet": read_parquet}


def read_symbol(source: str, folder: str | Path, symbol: str) -> Bars:
    """Read and validate ``SYMBOL`` from a user folder with the reader of ``source``."""
    return READERS[source](symbol_file(folder, symbol, source), symbol)
