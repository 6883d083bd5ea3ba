"""Event schedules the specialists consult, from documented calendar rules (no fabricated dates).

* Central banks: the FOMC decision days are estimated with
  :func:`mtquant.features.calendar.fomc_rule_dates` (eight anchors a year, first Wednesday on or
  after each). Other banks' schedules are not shipped; a user passes real dates as
  ``meetings={"ECB": [...], ...}`` and those are used as given.
* OPEC: ordinary conferences are held twice a year, typically in early June and late November /
  early December. Rule: nominal dates 1 June and 1 December; a meeting is "upcoming" from
  ``horizon_days`` before a nominal date until 7 days after it (the conference week).
* Earnings: US index constituents report mainly from about 2 to about 6 weeks after each
  quarter end. Rule: in season when ``14 <= days since the last quarter end <= 42``; peak when
  ``21 <= days <= 35``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date as Date
from typing import TypeAlias

import pandas as pd

from mtquant.features.calendar import fomc_rule_dates

OPEC_NOMINAL = ((6, 1), (12, 1))  # (month, day) of the two ordinary conferences
OPEC_AFTER_DAYS = 7
EARNINGS_SEASON_DAYS = (14, 42)
EARNINGS_PEAK_DAYS = (21, 35)

DateLike: TypeAlias = Date | pd.Timestamp | str


def _day(value: DateLike) -> pd.Timestamp:
    return pd.Timestamp(value).normalize()


def central_bank_schedule(
    date: DateLike,
    horizon_days: int = 7,
    meetings: Mapping[str, Sequence[DateLike]] | None = None,
) -> dict[str, bool]:
    """``{bank: a decision falls within [date, date + horizon_days]}``.

    Without ``meetings``: ``{"FED": ...}`` from the FOMC calendar rule. With ``meetings``: one
    entry per bank given (real dates supplied by the user), plus "FED" from the rule unless given.
    """
    d = _day(date)
    end = d + pd.Timedelta(days=horizon_days)
    table: dict[str, pd.DatetimeIndex] = {"FED": fomc_rule_dates(d.year, d.year + 1)}
    for bank, days in (meetings or {}).items():
        table[bank] = pd.DatetimeIndex([_day(x) for x in days])
    return {bank: bool(((days >= d) & (days <= end)).any()) for bank, days in table.items()}


def opec_meeting_upcoming(date: DateLike, horizon_days: int = 14) -> bool:
    """True from ``horizon_days`` before 1 June / 1 December until 7 days after (module rule)."""
    d = _day(date)
    for year in (d.year - 1, d.year, d.year + 1):
        for month, day in OPEC_NOMINAL:
            nominal = pd.Timestamp(year, month, day)
            offset = (nominal - d).days  # > 0: meeting ahead
            if -OPEC_AFTER_DAYS <= offset <= horizon_days:
                return True
    return False


def days_since_quarter_end(date: DateLike) -> int:
    """Calendar days since the last quarter end on or before ``date`` (0 on a quarter end)."""
    d = _day(date)
    q_end = d if d == d + pd.offsets.QuarterEnd(0) else d - pd.offsets.QuarterEnd(1)
    return int((d - q_end).days)


def earnings_calendar(date: DateLike) -> dict[str, bool]:
    """``in_season`` (2-6 weeks after a quarter end), ``peak`` (weeks 3-5) and ``this_week``
    (any day of ``[date, date + 6]`` in season)."""
    lo, hi = EARNINGS_SEASON_DAYS
    plo, phi = EARNINGS_PEAK_DAYS
    d = _day(date)
    days = days_since_quarter_end(d)
    week = [days_since_quarter_end(d + pd.Timedelta(days=k)) for k in range(7)]
    return {
        "in_season": lo <= days <= hi,
        "peak": plo <= days <= phi,
        "this_week": any(lo <= x <= hi for x in week),
    }
