"""Calendar encodings from the dates alone (known in advance, so causal by construction).

None of these read prices. The central-bank feature is a documented *calendar rule*, not the
official FOMC calendar: no verified table of every scheduled meeting 1999-2026 ships with
MTQuant, and inventing dates would be worse than an honest approximation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

# Month and day on or after which the FOMC decision Wednesday usually falls: eight scheduled
# meetings a year (late Jan, mid Mar, late Apr / early May, mid Jun, late Jul, mid Sep,
# late Oct / early Nov, mid Dec). The rule "first Wednesday on or after the anchor" matches most
# scheduled decision days and is otherwise within about a week (8 days for Nov 2018).
FOMC_ANCHORS: tuple[tuple[int, int], ...] = (
    (1, 26),
    (3, 15),
    (4, 28),
    (6, 12),
    (7, 26),
    (9, 15),
    (10, 28),
    (12, 12),
)
OIL_SEASON_PEAK_DOY = 196  # mid-July: peak of the US driving season (gasoline / crude demand)


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def day_of_week_encoding(dates: pd.DatetimeIndex) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sin, cos)`` of ``2 pi weekday / 5`` (Mon = 0 ... Fri = 4), each ``[T]``."""
    ang = 2.0 * math.pi * np.asarray(dates.day_of_week, dtype=np.float64) / 5.0
    return _tensor(np.sin(ang)), _tensor(np.cos(ang))


def month_encoding(dates: pd.DatetimeIndex) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sin, cos)`` of ``2 pi (month - 1) / 12``, each ``[T]``."""
    ang = 2.0 * math.pi * (np.asarray(dates.month, dtype=np.float64) - 1.0) / 12.0
    return _tensor(np.sin(ang)), _tensor(np.cos(ang))


def month_end_flag(dates: pd.DatetimeIndex) -> torch.Tensor:
    """``[T]``: 1 on the last business day of a quarter, 0.5 on other month ends, else 0.

    Month- and quarter-end rebalancing flows (the "London 4pm fix" effect) are calendar facts.
    """
    d = pd.DatetimeIndex(dates).normalize()
    is_bme = np.asarray(d + pd.offsets.BMonthEnd(0) == d)
    is_q = np.isin(np.asarray(d.month), (3, 6, 9, 12))
    return _tensor(np.where(is_bme, np.where(is_q, 1.0, 0.5), 0.0))


def fomc_rule_dates(first_year: int, last_year: int) -> pd.DatetimeIndex:
    """Estimated FOMC decision days: the first Wednesday on or after each of :data:`FOMC_ANCHORS`."""
    anchors = pd.DatetimeIndex(
        [pd.Timestamp(y, m, d) for y in range(first_year, last_year + 1) for m, d in FOMC_ANCHORS]
    )
    shift = (2 - np.asarray(anchors.day_of_week)) % 7  # days to the next Wednesday (weekday 2)
    return anchors + pd.to_timedelta(shift, unit="D")


def days_to_fomc_estimate(dates: pd.DatetimeIndex) -> torch.Tensor:
    """``[T]`` calendar days from each date to the next estimated FOMC decision day (0 on it).

    Uses :func:`fomc_rule_dates` (an approximation of the published schedule, see the module
    docstring), never a fabricated table.
    """
    d = pd.DatetimeIndex(dates).normalize()
    meetings = fomc_rule_dates(d[0].year, d[-1].year + 1)
    idx = np.searchsorted(meetings.values, d.values, side="left")
    nxt = meetings.values[idx]
    return _tensor((nxt - d.values) / np.timedelta64(1, "D"))


def earnings_season_phase(dates: pd.DatetimeIndex) -> torch.Tensor:
    """``[T]`` in [0, 1]: ``sin(pi (d - 10) / 42)`` for ``10 <= d < 52`` days after a quarter end,
    else 0.

    Calendar rule: US index constituents report from about two weeks after the quarter closes
    for about six weeks; the phase peaks mid-season (the busiest reporting weeks).
    """
    d = pd.DatetimeIndex(dates).normalize()
    q_end = d - pd.offsets.QuarterEnd(1)  # the last quarter end strictly before each date
    qe = (d + pd.offsets.QuarterEnd(0)) == d
    q_end = q_end.where(~qe, d)
    days = np.asarray((d - q_end).days, dtype=np.float64)
    inside = (days >= 10) & (days < 52)
    return _tensor(np.where(inside, np.sin(math.pi * (days - 10.0) / 42.0), 0.0))


def oil_seasonality(dates: pd.DatetimeIndex) -> torch.Tensor:
    """``[T]``: ``cos(2 pi (doy - 196) / 365.25)``, +1 mid-July (driving season), -1 mid-January."""
    doy = np.asarray(pd.DatetimeIndex(dates).day_of_year, dtype=np.float64)
    return _tensor(np.cos(2.0 * math.pi * (doy - OIL_SEASON_PEAK_DOY) / 365.25))
