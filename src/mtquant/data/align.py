"""Alignment of per-instrument bars onto one business-day calendar with a bounded forward fill.

Rule (documented in docs/data.md):
1. Each series is clipped to ``[start, end]``; bars on Saturdays/Sundays are dropped (logged).
2. The calendar is ``pandas.bdate_range`` over the clipped span, restricted to *market days*:
   business days on which at least one instrument has a bar (a day when every market is shut,
   e.g. 25 December, carries no information and is not a trading day).
3. An instrument without a bar on a market day is forward-filled from its last bar: a flat bar
   (open = high = low = close = last close, volume 0, last spread) with ``mask = False``.
4. At most ``max_ffill_days`` consecutive market days are filled. A day on which some instrument's
   last bar is older than that, or that precedes some instrument's first bar, is dropped for ALL
   instruments (a day is kept only if every instrument was observed within the fill limit).
   Such gaps are reported in ``MarketData.gaps`` and logged as warnings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mtquant.data.bars import Bars
from mtquant.data.market_data import FIELDS, MarketData, Provenance
from mtquant.errors import DataError

log = logging.getLogger(__name__)
CLOSE, VOLUME, SPREAD = FIELDS.index("close"), FIELDS.index("volume"), FIELDS.index("spread")


@dataclass
class Aligned:
    dates: pd.DatetimeIndex  # [T]
    values: np.ndarray  # [T, N, F] float64
    mask: np.ndarray  # [T, N] bool, True where observed
    gaps: list[str]


def clip(bars: Bars, start: str | None, end: str | None) -> pd.DataFrame:
    """Rows of ``bars.frame`` inside ``[start, end]`` (inclusive), weekend bars removed."""
    frame = bars.frame
    lo = pd.Timestamp(start) if start else frame.index[0]
    hi = pd.Timestamp(end) if end else frame.index[-1]
    frame = frame.loc[(frame.index >= lo) & (frame.index <= hi)]
    weekend = frame.index.day_of_week >= 5
    if weekend.any():
        log.warning(
            "%s: %d weekend bars ignored (business-day calendar)",
            bars.provenance.source,
            int(weekend.sum()),
        )
        frame = frame.loc[~weekend]
    return frame


def align(bars: dict[str, Bars], start: str | None, end: str | None, max_ffill: int) -> Aligned:
    """Put every series on the common market-day calendar (rules in the module docstring)."""
    symbols = list(bars)
    frames = {s: clip(bars[s], start, end) for s in symbols}
    for s, f in frames.items():
        if f.empty:
            raise DataError(
                f"{s}: no bars between data.start={start} and data.end={end} "
                f"({bars[s].provenance.source})"
            )
    span = pd.bdate_range(
        min(f.index[0] for f in frames.values()), max(f.index[-1] for f in frames.values())
    )
    observed = np.stack([span.isin(frames[s].index) for s in symbols], axis=1)  # [D, N]
    market = observed.any(axis=1)
    days, observed = span[market], observed[market]
    rows = np.arange(len(days))[:, None]
    last_seen = np.maximum.accumulate(np.where(observed, rows, -1), axis=0)
    since = np.where(last_seen >= 0, rows - last_seen, len(days) + 1)  # [D, N] days since bar
    keep: np.ndarray = np.asarray((since <= max_ffill).all(axis=1))
    if not keep.any():
        raise DataError(
            f"{', '.join(symbols)}: no common day within the fill limit "
            f"(data.max_ffill_days={max_ffill}) between {start} and {end}"
        )
    gaps = _report(days, observed, keep, symbols, max_ffill)
    values = np.stack([_fill(frames[s], days) for s in symbols], axis=1)  # [D, N, F]
    return Aligned(days[keep], values[keep], observed[keep], gaps)


def _fill(frame: pd.DataFrame, days: pd.DatetimeIndex) -> np.ndarray:
    """``[D, F]``: bars on ``days``; missing days become flat bars at the last close."""
    out = frame.reindex(days)
    seen = out["close"].notna().to_numpy()
    # a writable copy; days before the first bar stay NaN (they are dropped)
    filled = np.array(out.ffill().to_numpy(np.float64))
    filled[~seen, :CLOSE] = filled[~seen, CLOSE, None]
    filled[~seen, VOLUME] = 0.0
    return filled


def _report(
    days: pd.DatetimeIndex,
    observed: np.ndarray,
    keep: np.ndarray,
    symbols: list[str],
    max_ffill: int,
) -> list[str]:
    """One line per run of missing market days longer than the fill limit, and per late start."""
    gaps: list[str] = []
    for n, sym in enumerate(symbols):
        seen = np.flatnonzero(observed[:, n])
        if seen[0] > 0:
            gaps.append(
                f"{sym}: first bar {days[seen[0]].date()}; the {seen[0]} earlier market "
                f"days are dropped for all instruments"
            )
        if seen[-1] < len(days) - 1 - max_ffill:
            gaps.append(
                f"{sym}: last bar {days[seen[-1]].date()}; later market days beyond the "
                f"fill limit are dropped for all instruments"
            )
        lengths = np.diff(seen) - 1
        for k in np.flatnonzero(lengths > max_ffill):
            a, b = seen[k] + 1, seen[k + 1] - 1
            dropped = int((~keep[a : b + 1]).sum())
            gaps.append(
                f"{sym}: {lengths[k]} market days without a bar, {days[a].date()} to "
                f"{days[b].date()} (fill limit {max_ffill}); {dropped} day(s) dropped "
                f"for all instruments"
            )
    for line in gaps:
        log.warning("data gap: %s", line)
    return gaps


def dated_provenance(p: Provenance, dates: pd.DatetimeIndex) -> Provenance:
    return Provenance(p.kind, p.source, p.note, str(dates[0].date()), str(dates[-1].date()))


def to_market_data(aligned: Aligned, bars: dict[str, Bars]) -> MarketData:
    """Wrap aligned arrays as :class:`MarketData` (provenance dated with the kept range)."""
    symbols = list(bars)

    def flags(name: str) -> torch.Tensor:
        return torch.tensor([getattr(bars[s], name) for s in symbols], dtype=torch.bool)

    return MarketData(
        dates=aligned.dates,
        symbols=symbols,
        values=torch.from_numpy(np.ascontiguousarray(aligned.values)),
        mask=torch.from_numpy(np.ascontiguousarray(aligned.mask)),
        has_range=flags("has_range"),
        has_volume=flags("has_volume"),
        has_spread=flags("has_spread"),
        provenance={s: dated_provenance(bars[s].provenance, aligned.dates) for s in symbols},
        gaps=list(aligned.gaps),
    )
