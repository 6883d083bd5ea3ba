"""``Bars``: one instrument's validated daily series before alignment onto the common calendar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtquant.data.market_data import FIELDS, Provenance


@dataclass
class Bars:
    """Daily bars of one instrument: ``frame`` has a sorted, unique, midnight DatetimeIndex and all
    of :data:`FIELDS` as float64 columns (close-only series repeat the close in open/high/low;
    unknown volume / spread are 0), with flags saying which fields are real."""

    frame: pd.DataFrame
    has_range: bool
    has_volume: bool
    has_spread: bool
    provenance: Provenance


def make_bars(frame: pd.DataFrame, provenance: Provenance) -> Bars:
    """Complete a frame holding ``close`` (+ optional open/high/low, volume, spread) to :data:`FIELDS`.

    A range exists only when open, high and low are all present.
    """
    has_range = {"open", "high", "low"} <= set(frame.columns)
    close = frame["close"].to_numpy(dtype=np.float64)
    cols: dict[str, np.ndarray] = {}
    for name in FIELDS:
        if name in ("open", "high", "low"):
            cols[name] = frame[name].to_numpy(np.float64) if has_range else close
        elif name == "close":
            cols[name] = close
        else:
            cols[name] = (
                frame[name].to_numpy(np.float64) if name in frame.columns else np.zeros_like(close)
            )
    full = pd.DataFrame(cols, index=pd.DatetimeIndex(frame.index).normalize())
    return Bars(
        frame=full,
        has_range=has_range,
        has_volume="volume" in frame.columns,
        has_spread="spread" in frame.columns,
        provenance=provenance,
    )
