"""User macro series (``data.macro_path``): a CSV of ``date`` + one column per macro input.

The meta-controller's 5 macro inputs default to price proxies
(:mod:`mtquant.features.macro`); a column named like one of them (``vix_proxy``,
``dollar_index_proxy``, ``rates_proxy``, ``commodity_inflation_proxy``, ``risk_appetite_proxy``)
replaces that proxy. Macro series are often published at a lower frequency than prices, so each
trading day takes the last value published on or before it (an as-of join: causal, a value is
used from its date on). The file must cover the data's first day; every cell must be a finite
number; dates strictly increase. Errors name the file, line, column and value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mtquant.data.market_data import MarketData
from mtquant.data.readers import _read_text, _split_rows
from mtquant.data.validation import line_rows, parse_dates, parse_numbers
from mtquant.errors import DataError


def read_macro_series(path: str | Path, dates: pd.DatetimeIndex) -> tuple[torch.Tensor, list[str]]:
    """``([T, M] float64 series on ``dates``, [M] names)`` from the CSV at ``path`` (module doc)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"data.macro_path {str(file)!r}: file not found")
    header, rows, lines = _split_rows(file, _read_text(file), ",")
    if not header or header[0].lower() != "date" or len(header) < 2:
        raise DataError(
            f"{file.name}: line 1 (header): expected 'date' then one column per macro series, "
            f"got {header}"
        )
    names = header[1:]
    if len(set(names)) != len(names):
        raise DataError(f"{file.name}: line 1 (header): duplicate column in {names}")
    cells = np.array(rows, dtype=str)
    where = line_rows(lines, cells[:, 0])
    stamps = parse_dates(cells[:, 0], file=file.name, where=where, column="date", fmt=None)
    values = parse_numbers(
        {n: cells[:, k + 1] for k, n in enumerate(names)}, file=file.name, where=where, names={}
    )
    step = np.diff(stamps.asi8)
    if (step <= 0).any():
        k = int(np.flatnonzero(step <= 0)[0]) + 1
        raise DataError(
            f"{file.name}: {where(k)}, column date, value {str(stamps[k].date())!r}: dates must "
            "strictly increase"
        )
    first = pd.Timestamp(dates[0])
    if stamps[0].normalize() > first:
        raise DataError(
            f"{file.name}: the first macro value is dated {stamps[0].date()}, after the data's "
            f"first day {first.date()}; give a history that covers it or set data.start"
        )
    frame = pd.DataFrame(values, index=stamps.normalize())
    aligned = frame.reindex(frame.index.union(dates)).ffill().loc[dates]  # as of each day
    return torch.from_numpy(aligned.to_numpy(dtype=np.float64)), names


def with_macro_series(data: MarketData, path: str | Path) -> MarketData:
    """``data`` with the user's macro series attached (``macro [T, M]``, ``macro_names``)."""
    macro, names = read_macro_series(path, data.dates)
    data.macro, data.macro_names = macro, names
    return data
