"""Date splits: test = last 6 months, contiguous, no overlap; walk-forward folds expand."""

from __future__ import annotations

import pandas as pd
import pytest

from mtquant.config.data import SplitConfig, WalkForwardConfig
from mtquant.data import make_splits, walk_forward_folds
from mtquant.errors import DataError

DATES = pd.bdate_range("1999-01-04", "2018-12-31")


def test_splits_test_is_last_six_months_and_val_the_six_before() -> None:
    s = make_splits(DATES, SplitConfig(test_months=6, val_months=6))
    assert DATES[s.test[0]] == pd.Timestamp("2018-07-02")  # first business day of July 2018
    assert DATES[s.test[0] - 1] == pd.Timestamp("2018-06-29")
    assert DATES[s.val[0]] == pd.Timestamp("2018-01-01")
    assert s.test[1] == len(DATES)
    assert s.describe()["test"] == f"2018-07-02..2018-12-31 ({len(DATES) - s.test[0]} days)"


def test_splits_are_contiguous_cover_all_rows_and_never_overlap() -> None:
    s = make_splits(DATES, SplitConfig(test_months=3, val_months=12))
    assert s.train[0] == 0 and s.train[1] == s.val[0] and s.val[1] == s.test[0]
    assert s.test[1] == len(DATES)
    assert DATES[s.train[1] - 1] < DATES[s.val[0]] < DATES[s.test[0]]
    assert s.range("val") == s.val
    with pytest.raises(DataError, match="split 'holdout'"):
        s.range("holdout")


def test_splits_raise_when_data_too_short() -> None:
    short = pd.bdate_range("2020-01-01", periods=300)  # ~14 months: train < warm-up
    with pytest.raises(DataError, match=r"too short for data.split .*train has \d+ days"):
        make_splits(short, SplitConfig(test_months=6, val_months=6, warmup_days=260))


def test_walk_forward_folds_expand_and_test_follows_train() -> None:
    folds = walk_forward_folds(
        DATES, WalkForwardConfig(initial_train_years=5, retrain_months=12, test_months=6)
    )
    assert DATES[folds[0].test[0]] == pd.Timestamp("2004-01-05")  # first bday of 2004
    assert DATES[folds[0].test[1] - 1] == pd.Timestamp("2004-07-02")
    for prev, fold in zip(folds, folds[1:], strict=False):
        assert fold.train[0] == 0 and fold.train[1] > prev.train[1]  # expanding
    for fold in folds:
        assert fold.train[1] == fold.test[0]  # test starts where train ends: no overlap
        assert fold.test[1] <= len(DATES)
    # last complete fold: train to 2017-12-31 (5 + 14 years after 1999-01-04), test H1 2018
    assert len(folds) == 15
    assert DATES[folds[-1].test[0]] == pd.Timestamp("2018-01-04")


def test_walk_forward_raises_when_no_complete_fold() -> None:
    with pytest.raises(DataError, match="too short for data.walk_forward"):
        walk_forward_folds(pd.bdate_range("2020-01-01", periods=500), WalkForwardConfig())
