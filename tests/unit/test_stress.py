"""Stress windows: locating a window in dates, and replaying its returns on a book by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mtquant.errors import DataError
from mtquant.risk_management.stress import replay_window, window_span


def test_replay_two_days_two_legs_by_hand():
    w = [1.0, -0.5]
    r = [[-0.02, 0.01], [0.03, 0.04]]
    # day 1: -0.02 - 0.005 = -0.025; day 2: 0.03 - 0.02 = 0.01
    out = replay_window(w, r)
    np.testing.assert_allclose(out["daily_returns"], [-0.025, 0.01], rtol=1e-12)
    assert out["days"] == 2
    assert out["cumulative_return"] == pytest.approx(0.975 * 1.01 - 1.0, rel=1e-12)  # -1.525%
    assert out["worst_day"] == pytest.approx(-0.025, rel=1e-12)
    assert out["max_drawdown"] == pytest.approx(0.025, rel=1e-12)  # peak 1.0 -> 0.975


def test_replay_drawdown_is_from_the_running_peak():
    # +10% then -20%: wealth 1.1, 0.88 -> drawdown 1 - 0.88 / 1.1 = 0.2
    out = replay_window([2.0], [[0.05], [-0.10]])
    assert out["cumulative_return"] == pytest.approx(-0.12, rel=1e-12)
    assert out["max_drawdown"] == pytest.approx(0.2, rel=1e-12)


def test_replay_wipe_out_stays_at_zero():
    out = replay_window([3.0], [[-0.4], [0.5]])  # -120% on day 1
    assert out["cumulative_return"] == -1.0 and out["max_drawdown"] == 1.0
    assert out["worst_day"] == pytest.approx(-1.2)


def test_replay_rejects_misshaped_or_non_finite_input():
    with pytest.raises(DataError, match="weights"):
        replay_window([1.0, 2.0], [[0.01, 0.02, 0.03]])
    with pytest.raises(DataError, match="non-finite window_returns"):
        replay_window([1.0], [[float("nan")]])


def test_window_span_full_partial_and_absent():
    dates = np.datetime64("2011-08-01") + np.arange(10)  # 2011-08-01 .. 2011-08-10
    full = window_span(dates, "2011-08-03", "2011-08-05")
    assert full is not None and (full.start, full.stop, full.partial) == (2, 5, False)
    part = window_span(dates, "2011-07-15", "2011-08-02")
    assert part is not None and (part.start, part.stop, part.partial) == (0, 2, True)
    assert part.days == 2
    assert window_span(dates, "2008-09-01", "2008-11-28") is None
    with pytest.raises(DataError, match="before start"):
        window_span(dates, "2011-08-05", "2011-08-01")
