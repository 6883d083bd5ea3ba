"""Stress windows: locate a named historical window in a date index, and replay its returns on a
book (a scenario check).

Conventions:

- ``weights`` ``[N]`` are signed notional / equity; ``window_returns`` ``[D, N]`` the window's
  daily USD position returns (the features' ``returns``: close to close, in USD per USD of
  notional), oldest first.
- The replayed book keeps its weights every day (rebalanced back to ``w`` at each close), so day
  d's return is ``p_d = w . r_d`` and equity compounds: ``W_d = prod_{k<=d} (1 + p_k)``,
  anchored at 1 before the window. A day with ``p_d <= -1`` wipes the book out: the wealth stays
  0 from then on (no negative equity).
- Returns are signed fractions (negative = loss); drawdowns are positive fractions of the
  running peak (the initial 1.0 counts as a peak), as in :mod:`mtquant.evaluation.metrics`.
- Window dates are inclusive calendar days; a window only partly inside the dates is cut to the
  overlap, and the caller is told so (``partial``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtquant.errors import DataError


class NamedWindow(Protocol):
    """Anything with a name and inclusive ISO ``start`` / ``end`` dates (``StressWindow``)."""

    name: str
    start: str
    end: str


@dataclass(frozen=True)
class WindowSpan:
    """Rows ``[start, stop)`` of a date index that fall inside a window; ``partial`` when the
    window reaches outside the index (before its first or after its last date)."""

    start: int
    stop: int
    partial: bool

    @property
    def days(self) -> int:
        return self.stop - self.start


def window_span(dates: ArrayLike, start: str, end: str) -> WindowSpan | None:
    """The rows of sorted ``dates`` ``[T]`` within ``start..end`` (inclusive), None if none."""
    d = np.asarray(dates, dtype="datetime64[D]")
    if d.ndim != 1:
        raise DataError(f"window_span: expected 1-D dates, got shape {d.shape}")
    lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
    if hi < lo:
        raise DataError(f"window_span: end {end} is before start {start}")
    i = int(np.searchsorted(d, lo, side="left"))
    j = int(np.searchsorted(d, hi, side="right"))
    if j <= i:
        return None
    return WindowSpan(i, j, partial=bool(lo < d[0] or hi > d[-1]))


def path_stats(daily: NDArray[np.float64]) -> dict[str, float]:
    """Cumulative return, worst day and max drawdown of daily returns ``[D]`` (module doc)."""
    wealth = np.concatenate([[1.0], np.cumprod(np.maximum(1.0 + daily, 0.0))])
    peak = np.maximum.accumulate(wealth)
    return {
        "cumulative_return": float(wealth[-1] - 1.0),
        "worst_day": float(daily.min()),
        "max_drawdown": float((1.0 - wealth / peak).max()),
    }


def replay_window(weights: ArrayLike, window_returns: ArrayLike) -> dict[str, Any]:
    """Replay ``window_returns`` ``[D, N]`` on the book ``weights`` ``[N]`` (module doc).

    Returns ``{"days", "daily_returns" [D], "cumulative_return", "worst_day",
    "max_drawdown"}``: the book's P&L path as a fraction of equity, its compounded return over
    the window (negative = loss), its worst day and its largest peak-to-trough loss.
    """
    w = np.asarray(weights, dtype=np.float64)
    r = np.asarray(window_returns, dtype=np.float64)
    if w.ndim != 1 or r.ndim != 2 or r.shape[1] != w.shape[0] or r.shape[0] == 0:
        raise DataError(
            f"replay_window: expected weights [N] and window_returns [D >= 1, N], got {w.shape} "
            f"and {r.shape}"
        )
    for label, x in (("weights", w), ("window_returns", r)):
        if not np.isfinite(x).all():
            i = int(np.argmax(~np.isfinite(x.ravel())))
            raise DataError(f"replay_window: non-finite {label} at flat position {i}")
    daily = r @ w  # [D]
    return {"days": int(daily.size), "daily_returns": daily, **path_stats(daily)}
