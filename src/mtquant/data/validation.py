"""Validation of daily bars on load, shared by every source (packaged, synthetic, MT5, CSV, Parquet).

Each check raises :class:`~mtquant.errors.DataError` with ONE line naming the file, the row (line
number for text files, else the date), the column (as the file spells it) and the value:

    EURUSD.csv: line 5 (2020.01.07), column <HIGH>, value 1.1: high below low 1.12

Rules: no empty file; every row parses (field count, date, numbers); no NaN or empty cell; prices
(open/high/low/close) > 0; volume and spread >= 0; timestamps strictly increasing (no duplicate,
no step back); ``low <= high`` and ``open``, ``close`` inside ``[low, high]`` where a range exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from mtquant.errors import DataError

PRICE_FIELDS = ("open", "high", "low", "close")
Where = Callable[[int], str]  # row index -> "line 17 (2020.01.07)" / "row 3 (2001-01-05)"


def fail(file: str, where: str, column: str, value: object, problem: str) -> DataError:
    """The one-line error: ``<file>: <where>, column <column>, value <value>: <problem>``."""
    text = f"{file}: {where}, column {column}, value {value!r}: {problem}"
    return DataError(" ".join(text.split("\n")))


def empty_file(file: str) -> DataError:
    return DataError(f"{file}: empty file (no data rows)")


def parse_numbers(
    raw: Mapping[str, np.ndarray], *, file: str, where: Where, names: Mapping[str, str]
) -> dict[str, np.ndarray]:
    """Strings -> float64 per column; an empty, NaN or unparseable cell raises naming the cell."""
    out: dict[str, np.ndarray] = {}
    for col, cells in raw.items():
        stripped = np.char.strip(np.asarray(cells, dtype=str))
        empty = np.flatnonzero(stripped == "")
        values = pd.to_numeric(pd.Series(stripped), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        first = min([*empty[:1], *bad[:1]], default=None)
        if first is not None:
            cell = str(stripped[first])
            problem = (
                "empty cell"
                if cell == ""
                else (
                    "NaN cell" if cell.lower() in ("nan", "na", "n/a", "null") else "not a number"
                )
            )
            raise fail(file, where(int(first)), names.get(col, col), cell, problem)
        out[col] = values
    return out


def parse_dates(
    cells: np.ndarray, *, file: str, where: Where, column: str, fmt: str | None
) -> pd.DatetimeIndex:
    """Strings -> timestamps with ``fmt`` (None = ISO 8601); a bad or empty date raises."""
    stripped = pd.Series(np.char.strip(np.asarray(cells, dtype=str)))
    parsed = pd.to_datetime(stripped, format=fmt or "ISO8601", errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        cell = str(stripped.iloc[bad[0]])
        problem = "empty cell" if cell == "" else f"unparseable date (expected {fmt or 'ISO 8601'})"
        raise fail(file, where(int(bad[0])), column, cell, problem)
    return pd.DatetimeIndex(parsed)


def check_bars(
    frame: pd.DataFrame,
    *,
    file: str,
    where: Where,
    names: Mapping[str, str] | None = None,
    date_column: str = "date",
) -> None:
    """Check parsed bars (DatetimeIndex, float columns among open/high/low/close/volume/spread).

    ``names`` maps canonical field names to the file's column names for messages.
    """
    names = dict(names or {})
    if len(frame) == 0:
        raise empty_file(file)
    for col in frame.columns:
        values = frame[col].to_numpy(dtype=np.float64)
        nan = np.flatnonzero(np.isnan(values))
        if len(nan):
            raise fail(file, where(int(nan[0])), names.get(col, col), "NaN", "NaN or empty cell")
        limit_ok = values > 0 if col in PRICE_FIELDS else values >= 0
        bad = np.flatnonzero(~limit_ok)
        if len(bad):
            need = "non-positive price" if col in PRICE_FIELDS else f"negative {col}"
            raise fail(file, where(int(bad[0])), names.get(col, col), float(values[bad[0]]), need)
    _check_order(frame.index, file=file, where=where, column=names.get("date", date_column))
    if {"high", "low"} <= set(frame.columns):
        _check_range(frame, file=file, where=where, names=names)


def _check_order(index: pd.Index, *, file: str, where: Where, column: str) -> None:
    stamps = index.asi8 if isinstance(index, pd.DatetimeIndex) else np.asarray(index)
    step = np.diff(stamps)
    bad = np.flatnonzero(step <= 0)
    if len(bad):
        k = int(bad[0]) + 1
        stamp = pd.Timestamp(index[k])
        prev = pd.Timestamp(index[k - 1])
        kind = "duplicate timestamp" if stamp == prev else f"decreasing timestamp (after {prev})"
        raise fail(file, where(k), column, str(stamp), kind)


def _check_range(frame: pd.DataFrame, *, file: str, where: Where, names: Mapping[str, str]) -> None:
    high = frame["high"].to_numpy()
    low = frame["low"].to_numpy()
    bad = np.flatnonzero(high < low)
    if len(bad):
        k = int(bad[0])
        raise fail(
            file,
            where(k),
            names.get("high", "high"),
            float(high[k]),
            f"high below low {float(low[k])!r}",
        )
    for col in ("open", "close"):
        if col not in frame.columns:
            continue
        v = frame[col].to_numpy()
        out = np.flatnonzero((v < low) | (v > high))
        if len(out):
            k = int(out[0])
            raise fail(
                file,
                where(k),
                names.get(col, col),
                float(v[k]),
                f"{col} outside [low, high] = [{float(low[k])!r}, {float(high[k])!r}]",
            )


def date_rows(file_dates: Sequence[pd.Timestamp] | pd.DatetimeIndex) -> Where:
    """Row locator for sources without line numbers: ``row <i> (<date>)``."""
    dates = pd.DatetimeIndex(file_dates)
    return lambda i: f"row {i + 1} ({dates[i].date()})"


def line_rows(lines: np.ndarray, dates: Sequence[str] | np.ndarray | None = None) -> Where:
    """Row locator for text files: ``line <n>`` (1-based, header included) and the date cell."""
    if dates is None:
        return lambda i: f"line {int(lines[i])}"
    return lambda i: f"line {int(lines[i])} ({str(dates[i]).strip()})"
