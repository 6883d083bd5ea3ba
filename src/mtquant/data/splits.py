"""Train / validation / test splits by date, and expanding walk-forward folds.

Row ranges are ``(start, stop)`` with ``stop`` exclusive, over the rows of ``MarketData.dates``.

- :func:`make_splits`: test = the last ``test_months`` calendar months (rows after
  ``last_date - test_months``), validation = the ``val_months`` before it, train = the rest.
  The three ranges are contiguous and cover every row; the test period is never seen in
  training or model selection.
- :func:`walk_forward_folds`: fold ``k`` trains on every row before
  ``first_date + initial_train_years + k * retrain_months`` (an expanding window) and tests on
  the following ``test_months``; only folds whose test window is complete are returned. Pass the
  dates before the held-out test split to keep it unseen.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mtquant.config.data import SplitConfig, WalkForwardConfig
from mtquant.errors import DataError

Range = tuple[int, int]


def _describe(dates: pd.DatetimeIndex, rng: Range) -> str:
    start, stop = rng
    return f"{dates[start].date()}..{dates[stop - 1].date()} ({stop - start} days)"


@dataclass(frozen=True, eq=False)
class Splits:
    """Contiguous train / val / test row ranges over ``dates``."""

    dates: pd.DatetimeIndex
    train: Range
    val: Range
    test: Range

    def describe(self) -> dict[str, str]:
        """``{"train": "1999-01-04..2017-12-29 (4645 days)", "val": ..., "test": ...}``."""
        return {
            name: _describe(self.dates, getattr(self, name)) for name in ("train", "val", "test")
        }

    def range(self, name: str) -> Range:
        """The range of ``train``, ``val`` or ``test`` by name (e.g. from ``cfg.split``)."""
        if name not in ("train", "val", "test"):
            raise DataError(f"split {name!r}: expected one of train, val, test")
        rng: Range = getattr(self, name)
        return rng


@dataclass(frozen=True, eq=False)
class Fold:
    """One walk-forward fold: train on ``train`` rows, test on the following ``test`` rows."""

    index: int
    dates: pd.DatetimeIndex
    train: Range
    test: Range

    def describe(self) -> dict[str, str]:
        return {
            "train": _describe(self.dates, self.train),
            "test": _describe(self.dates, self.test),
        }


def _first_after(dates: pd.DatetimeIndex, stamp: pd.Timestamp) -> int:
    """Index of the first row strictly after ``stamp``."""
    return int(dates.searchsorted(stamp, side="right"))


def _days_after(dates: pd.DatetimeIndex, stamp: pd.Timestamp) -> int:
    """Rows after ``stamp`` in ``dates``, plus the business days after ``stamp`` that precede
    ``dates[0]`` (an estimate of the rows a longer history would have there)."""
    before = pd.bdate_range(stamp + pd.Timedelta(days=1), dates[0] - pd.Timedelta(days=1))
    return len(dates) - _first_after(dates, stamp) + len(before)


def _split_rows(dates: pd.DatetimeIndex, test_months: int, val_months: int) -> tuple[int, int]:
    """``(first val row, first test row)`` of the calendar-month split (module docstring)."""
    test_from = dates[-1] - pd.DateOffset(months=test_months)
    val_from = test_from - pd.DateOffset(months=val_months)
    return _first_after(dates, val_from), _first_after(dates, test_from)


def _split_fits(dates: pd.DatetimeIndex, test_months: int, val_months: int, warmup: int) -> bool:
    """Whether train is longer than the warm-up and val and test are not empty."""
    v0, t0 = _split_rows(dates, test_months, val_months)
    return v0 > warmup and t0 > v0 and len(dates) > t0


def _split_remedy(dates: pd.DatetimeIndex, split_cfg: SplitConfig) -> str:
    """What the split needs, what the data has, and config values that would fit (the message
    of :func:`make_splits`'s ``DataError``)."""
    test_m, val_m, warmup = split_cfg.test_months, split_cfg.val_months, split_cfg.warmup_days
    months = test_m + val_m
    held_out = _days_after(dates, dates[-1] - pd.DateOffset(months=months))
    needed = warmup + 1 + held_out
    need = (
        f"the split needs about {needed} business days ({warmup} warm-up days + at least 1 "
        f"training day + {val_m} val and {test_m} test months = {held_out} days) and the data "
        f"has {len(dates)}"
    )
    fixes = []
    for m in range(max(test_m, val_m) - 1, 0, -1):  # shorter held-out periods, warm-up kept
        t, v = min(test_m, m), min(val_m, m)
        if _split_fits(dates, t, v, warmup):
            fixes.append(f"data.split.test_months={t} data.split.val_months={v}")
            break
    v0, t0 = _split_rows(dates, test_m, val_m)
    if v0 >= 1 and t0 > v0 and len(dates) > t0 and warmup > v0 - 1:
        fixes.append(
            f"data.split.warmup_days={v0 - 1} (fewer warm-up days: features that look back "
            f"further start partly warm)"
        )
    if not fixes:  # neither alone fits: the shortest held-out periods and what warm-up is left
        v1, t1 = _split_rows(dates, 1, 1)
        if v1 >= 1 and t1 > v1 and len(dates) > t1:
            fixes.append(
                f"data.split.test_months=1 data.split.val_months=1 data.split.warmup_days={v1 - 1}"
            )
    fixes.append(
        f"a longer history: an earlier data.start (or longer exports), at least "
        f"{max(needed - len(dates), 1)} more business days"
    )
    return f"{need}. Change one of: " + "; or ".join(fixes)


def make_splits(dates: pd.DatetimeIndex, split_cfg: SplitConfig) -> Splits:
    """Split ``dates`` into train / val / test by calendar months (module docstring).

    Raises :class:`DataError` when a split would be empty or training is no longer than
    ``warmup_days`` (features would never be warm); the message says how many days the split
    needs and which ``data.split`` values (or a longer ``data.start``) would fit.
    """
    dates = pd.DatetimeIndex(dates)
    if len(dates) == 0:
        raise DataError("make_splits: no dates")
    v0, t0 = _split_rows(dates, split_cfg.test_months, split_cfg.val_months)
    if not _split_fits(dates, split_cfg.test_months, split_cfg.val_months, split_cfg.warmup_days):
        span = f"{dates[0].date()}..{dates[-1].date()}"
        raise DataError(
            f"data {span} ({len(dates)} days) is too short for data.split "
            f"(test_months={split_cfg.test_months}, val_months={split_cfg.val_months}, "
            f"warmup_days={split_cfg.warmup_days}): train has {v0} days, val {t0 - v0}, "
            f"test {len(dates) - t0}; {_split_remedy(dates, split_cfg)}"
        )
    return Splits(dates, train=(0, v0), val=(v0, t0), test=(t0, len(dates)))


def _folds(
    dates: pd.DatetimeIndex, years: int, retrain_months: int, test_months: int
) -> list[Fold]:
    """The complete expanding-window folds (module docstring); possibly none."""
    folds: list[Fold] = []
    first, last = dates[0], dates[-1]
    k = 0
    while True:
        cut = first + pd.DateOffset(years=years, months=k * retrain_months)
        test_end = cut + pd.DateOffset(months=test_months)
        if test_end > last + pd.Timedelta(days=1):
            break
        start = int(dates.searchsorted(cut, side="left"))
        stop = int(dates.searchsorted(test_end, side="left"))
        if stop > start:
            folds.append(Fold(len(folds), dates, train=(0, start), test=(start, stop)))
        k += 1
    return folds


def _walk_forward_remedy(dates: pd.DatetimeIndex, wf_cfg: WalkForwardConfig) -> str:
    """What one fold needs, what the data spans, and config values that would fit."""
    years, test_m = wf_cfg.initial_train_years, wf_cfg.test_months
    need_end = dates[0] + pd.DateOffset(years=years, months=test_m)
    needed = len(pd.bdate_range(dates[0], need_end - pd.Timedelta(days=1)))
    fixes = []
    fit_years = [
        y for y in range(years - 1, 0, -1) if _folds(dates, y, wf_cfg.retrain_months, test_m)
    ]
    if fit_years:
        fixes.append(f"data.walk_forward.initial_train_years={fit_years[0]}")
    fit_tests = [
        t for t in range(test_m - 1, 0, -1) if _folds(dates, years, wf_cfg.retrain_months, t)
    ]
    if fit_tests:
        fixes.append(f"data.walk_forward.test_months={fit_tests[0]}")
    if not fixes and _folds(dates, 1, wf_cfg.retrain_months, 1):
        fixes.append("data.walk_forward.initial_train_years=1 data.walk_forward.test_months=1")
    fixes.append(
        f"a longer history: an earlier data.start (or longer exports), at least "
        f"{max(needed - len(dates), 1)} more business days"
    )
    return (
        f"one fold needs {years} training years + {test_m} test months, about {needed} "
        f"business days, and the data has {len(dates)} (each fold's training window must also "
        f"hold data.split.warmup_days and data.split.val_months). Change one of: "
        + "; or ".join(fixes)
    )


def walk_forward_folds(dates: pd.DatetimeIndex, wf_cfg: WalkForwardConfig) -> list[Fold]:
    """Expanding-window folds over ``dates`` (module docstring); at least one or DataError
    (whose message says which ``data.walk_forward`` values, or a longer history, would fit)."""
    dates = pd.DatetimeIndex(dates)
    if len(dates) == 0:
        raise DataError("walk_forward_folds: no dates")
    folds = _folds(dates, wf_cfg.initial_train_years, wf_cfg.retrain_months, wf_cfg.test_months)
    if not folds:
        raise DataError(
            f"data {dates[0].date()}..{dates[-1].date()} is too short for data.walk_forward "
            f"(initial_train_years={wf_cfg.initial_train_years}, "
            f"test_months={wf_cfg.test_months}): no complete fold; "
            f"{_walk_forward_remedy(dates, wf_cfg)}"
        )
    return folds


def fold_splits(dates: pd.DatetimeIndex, fold: Fold, val_months: int, warmup_days: int) -> Splits:
    """Train / val inside the fold's training window (val = its last ``val_months``); test = fold's.

    Raises :class:`DataError` naming what the window needs and which keys would fit."""
    stop = fold.train[1]
    val_from = dates[stop - 1] - pd.DateOffset(months=val_months)
    v0 = int(dates.searchsorted(val_from, side="right"))
    if v0 <= warmup_days or v0 >= stop:
        window = dates[:stop]
        val_days = _days_after(window, val_from)
        needed = warmup_days + 1 + val_days
        fixes = []
        fit_val = [
            m
            for m in range(val_months - 1, 0, -1)
            if warmup_days < int(window.searchsorted(window[-1] - pd.DateOffset(months=m), "right"))
        ]
        if fit_val:
            fixes.append(f"data.split.val_months={fit_val[0]}")
        if 1 <= v0 < stop:
            fixes.append(f"data.split.warmup_days={v0 - 1}")
        fixes.append(
            "a longer first training window: a larger data.walk_forward.initial_train_years "
            "(or an earlier data.start)"
        )
        raise DataError(
            f"walk-forward fold {fold.index} (train {fold.describe()['train']}): too short for "
            f"{val_months} validation months after {warmup_days} warm-up days: it needs about "
            f"{needed} days ({warmup_days} warm-up + at least 1 training day + {val_days} "
            f"validation days) and has {stop}. Change one of: " + "; or ".join(fixes)
        )
    return Splits(dates, train=(0, v0), val=(v0, stop), test=fold.test)
