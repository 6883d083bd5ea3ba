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


def make_splits(dates: pd.DatetimeIndex, split_cfg: SplitConfig) -> Splits:
    """Split ``dates`` into train / val / test by calendar months (module docstring).

    Raises :class:`DataError` when a split would be empty or training is no longer than
    ``warmup_days`` (features would never be warm).
    """
    dates = pd.DatetimeIndex(dates)
    if len(dates) == 0:
        raise DataError("make_splits: no dates")
    test_from = dates[-1] - pd.DateOffset(months=split_cfg.test_months)
    val_from = test_from - pd.DateOffset(months=split_cfg.val_months)
    t0, v0 = _first_after(dates, test_from), _first_after(dates, val_from)
    splits = Splits(dates, train=(0, v0), val=(v0, t0), test=(t0, len(dates)))
    span = f"{dates[0].date()}..{dates[-1].date()}"
    if v0 <= split_cfg.warmup_days or t0 == v0 or t0 == len(dates):
        raise DataError(
            f"data {span} ({len(dates)} days) is too short for data.split "
            f"(test_months={split_cfg.test_months}, val_months={split_cfg.val_months}, "
            f"warmup_days={split_cfg.warmup_days}): train has {v0} days, val {t0 - v0}, "
            f"test {len(dates) - t0}"
        )
    return splits


def walk_forward_folds(dates: pd.DatetimeIndex, wf_cfg: WalkForwardConfig) -> list[Fold]:
    """Expanding-window folds over ``dates`` (module docstring); at least one or DataError."""
    dates = pd.DatetimeIndex(dates)
    if len(dates) == 0:
        raise DataError("walk_forward_folds: no dates")
    folds: list[Fold] = []
    first, last = dates[0], dates[-1]
    k = 0
    while True:
        cut = first + pd.DateOffset(
            years=wf_cfg.initial_train_years, months=k * wf_cfg.retrain_months
        )
        test_end = cut + pd.DateOffset(months=wf_cfg.test_months)
        if test_end > last + pd.Timedelta(days=1):
            break
        start = int(dates.searchsorted(cut, side="left"))
        stop = int(dates.searchsorted(test_end, side="left"))
        if stop > start:
            folds.append(Fold(len(folds), dates, train=(0, start), test=(start, stop)))
        k += 1
    if not folds:
        raise DataError(
            f"data {first.date()}..{last.date()} is too short for data.walk_forward "
            f"(initial_train_years={wf_cfg.initial_train_years}, "
            f"test_months={wf_cfg.test_months}): no complete fold"
        )
    return folds


def fold_splits(dates: pd.DatetimeIndex, fold: Fold, val_months: int, warmup_days: int) -> Splits:
    """Train / val inside the fold's training window (val = its last ``val_months``); test = fold's."""
    stop = fold.train[1]
    val_from = dates[stop - 1] - pd.DateOffset(months=val_months)
    v0 = int(dates.searchsorted(val_from, side="right"))
    if v0 <= warmup_days or v0 >= stop:
        raise DataError(
            f"walk-forward fold {fold.index} (train {fold.describe()['train']}): too short for "
            f"{val_months} validation months after {warmup_days} warm-up days"
        )
    return Splits(dates, train=(0, v0), val=(v0, stop), test=fold.test)
