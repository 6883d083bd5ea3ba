"""Date splits: test = last 6 months, contiguous, no overlap; walk-forward folds expand."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from mtquant.config.data import SplitConfig, WalkForwardConfig
from mtquant.data import Splits, fold_splits, make_splits, walk_forward_folds
from mtquant.errors import DataError

DATES = pd.bdate_range("1999-01-04", "2018-12-31")
# two years of MetaTrader 5 daily history: 104 weeks, 2022-01-03 (Mon) .. 2023-12-29 (Fri)
TWO_YEARS = pd.bdate_range("2022-01-03", periods=520)


def suggested(message: str, key: str) -> int:
    """The value the error message suggests for ``key`` (e.g. ``data.split.val_months``)."""
    found = re.search(rf"{re.escape(key)}=(\d+)", message)
    assert found, f"{key} not suggested in: {message}"
    return int(found.group(1))


def assert_valid(s: Splits, warmup_days: int) -> None:
    assert s.train == (0, s.val[0]) and s.val[1] == s.test[0] and s.test[1] == len(s.dates)
    assert s.train[1] > warmup_days and s.val[1] > s.val[0] and s.test[1] > s.test[0]


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


def test_two_years_of_history_get_a_message_naming_the_days_needed_and_the_keys() -> None:
    with pytest.raises(DataError) as err:
        make_splits(TWO_YEARS, SplitConfig(test_months=6, val_months=6, warmup_days=260))
    message = str(err.value)
    # val + test = rows after 2022-12-29: 2022-12-30 plus the 260 business days of 2023 = 261;
    # train = 520 - 261 = 259 <= 260 warm-up days; needed = 260 + 1 + 261 = 522
    assert "train has 259 days, val 130, test 131" in message
    assert "needs about 522 business days" in message and "the data has 520" in message
    for key in ("data.split.test_months", "data.split.val_months", "data.split.warmup_days"):
        assert key in message
    assert "data.start" in message and "at least 2 more business days" in message


def test_following_the_short_history_message_gives_valid_splits() -> None:
    with pytest.raises(DataError) as err:
        make_splits(TWO_YEARS, SplitConfig())
    message = str(err.value)
    test_m = suggested(message, "data.split.test_months")
    val_m = suggested(message, "data.split.val_months")
    assert (test_m, val_m) == (5, 5)  # the longest held-out periods that keep 260 warm-up days
    assert_valid(make_splits(TWO_YEARS, SplitConfig(test_m, val_m, 260)), 260)
    warmup = suggested(message, "data.split.warmup_days")
    assert warmup == 258  # train has 259 days: at most 258 warm-up days leave one to train on
    assert_valid(make_splits(TWO_YEARS, SplitConfig(6, 6, warmup)), warmup)


def test_a_history_too_short_for_any_single_change_gets_a_combined_fix() -> None:
    short = pd.bdate_range("2020-01-01", periods=100)  # train would be empty at 6 + 6 months
    with pytest.raises(DataError) as err:
        make_splits(short, SplitConfig())
    message = str(err.value)
    assert "data.split.test_months=1 data.split.val_months=1" in message
    warmup = suggested(message, "data.split.warmup_days")
    assert_valid(make_splits(short, SplitConfig(1, 1, warmup)), warmup)


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


def test_following_the_walk_forward_messages_on_two_years_gives_folds_and_fold_splits() -> None:
    with pytest.raises(DataError) as err:
        walk_forward_folds(TWO_YEARS, WalkForwardConfig())  # 5 years + 6 months needed
    message = str(err.value)
    assert "data.walk_forward.initial_train_years" in message and "data.start" in message
    years = suggested(message, "data.walk_forward.initial_train_years")
    assert years == 1
    folds = walk_forward_folds(TWO_YEARS, WalkForwardConfig(initial_train_years=years))
    assert folds and folds[0].train == (0, 261)  # 2022-01-03..2023-01-02
    # a 261-day training window cannot hold 260 warm-up days and 6 validation months
    with pytest.raises(DataError, match="too short") as err:
        fold_splits(TWO_YEARS, folds[0], val_months=6, warmup_days=260)
    message = str(err.value)
    assert "data.split.warmup_days" in message
    assert "data.walk_forward.initial_train_years" in message
    warmup = suggested(message, "data.split.warmup_days")
    s = fold_splits(TWO_YEARS, folds[0], val_months=6, warmup_days=warmup)
    assert s.train[1] > warmup and s.val == (s.train[1], 261) and s.test == folds[0].test
