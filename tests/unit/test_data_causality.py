"""The packaged data never sees the future: a value on day t does not move with data.end/start.

The proxies (US30, XAUUSD) used to be pinned to 2018-12-31 levels and fitted on the whole
sample, so cutting the data changed their past and US30 - 0.95 SPX500 carried a planted drift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from data_fixtures import run_config

from mtquant.data import load_market_data
from mtquant.data.market_data import MarketData
from mtquant.data.proxies import (
    BETA_US30,
    BETA_XAU,
    DXY_WEIGHTS,
    IDIO_US30,
    IDIO_XAU,
    gold_proxy,
    us30_proxy,
)

ALL8 = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "WTIUSD", "SPX500", "NAS100", "US30"]


def load(start: str = "1999-01-04", end: str = "2018-12-31") -> MarketData:
    """All 8 packaged instruments (default specialists, seed 7) over ``[start, end]``."""
    return load_market_data(run_config(start=start, end=end))


@pytest.fixture(scope="module")
def full() -> MarketData:
    return load()


def rows_of(data: MarketData, dates: pd.DatetimeIndex) -> np.ndarray:
    rows = data.dates.get_indexer(dates)
    assert (rows >= 0).all(), "a day of the window is missing from the full load"
    return rows


@pytest.mark.parametrize("end", ["2005-06-30", "2012-03-15", "2018-06-29"])
def test_cutting_the_data_leaves_every_earlier_value_unchanged(full, end) -> None:
    cut = load(end=end)
    assert cut.symbols == full.symbols == ALL8
    assert cut.dates[-1] == pd.Timestamp(end)
    assert cut.dates.equals(full.dates[: cut.n_days])  # the same calendar up to the cut
    # bit-identical: every field (close included) and the mask, every instrument incl. proxies
    assert np.array_equal(cut.values.numpy(), full.values[: cut.n_days].numpy())
    assert np.array_equal(cut.mask.numpy(), full.mask[: cut.n_days].numpy())


@pytest.mark.parametrize("start", ["2005-06-30", "2012-03-15"])
def test_a_later_start_gives_the_same_values_on_the_common_days(full, start) -> None:
    late = load(start=start)
    assert late.dates[0] == pd.Timestamp(start) and late.dates[-1] == full.dates[-1]
    rows = rows_of(full, late.dates)
    assert np.array_equal(late.values.numpy(), full.values[rows].numpy())
    assert np.array_equal(late.mask.numpy(), full.mask[rows].numpy())
    # the proxies continue the 1999 path: they are not restarted at their 1999 levels
    for sym, level in (("US30", 9184.27), ("XAUUSD", 288.0)):
        assert late.close[0, ALL8.index(sym)] != level


def test_a_window_inside_the_sample_is_a_slice_of_the_full_path(full) -> None:
    window = load(start="2008-09-01", end="2009-03-31")
    rows = rows_of(full, window.dates)
    assert np.array_equal(rows, np.arange(rows[0], rows[0] + window.n_days))  # contiguous
    assert np.array_equal(window.values.numpy(), full.values[rows].numpy())
    assert np.array_equal(window.mask.numpy(), full.mask[rows].numpy())


def test_the_dow_proxy_carries_no_drift_over_the_sp500(full) -> None:
    close = full.to_frame("close")
    r = np.log(close).diff().iloc[1:]
    spread = (r["US30"] - BETA_US30 * r["SPX500"]).to_numpy()
    t_stat = spread.mean() / spread.std(ddof=1) * np.sqrt(len(spread))
    assert abs(t_stat) < 2.0
    assert spread.std() == pytest.approx(IDIO_US30, rel=0.05)  # the idiosyncratic noise only
    # on days the S&P 500 was closed (forward-filled) the Dow proxy does not move at all:
    # no constant daily drift is added (the old pinned model added ~1.2e-4 every day)
    spx_closed = ~full.mask[1:, ALL8.index("SPX500")].numpy()
    assert spx_closed.sum() > 100
    assert np.array_equal(spread[spx_closed], np.zeros(int(spx_closed.sum())))


def test_proxies_start_at_their_documented_levels_on_the_first_packaged_day(full) -> None:
    assert full.dates[0] == pd.Timestamp("1999-01-04")
    assert full.close[0, ALL8.index("US30")] == 9184.27  # the Dow's close on 1999-01-04
    assert full.close[0, ALL8.index("XAUUSD")] == 288.0  # about the early-1999 gold fix


def test_proxy_notes_say_no_drift_and_causal(full) -> None:
    for sym in ("US30", "XAUUSD"):
        note = full.provenance[sym].note
        assert note.startswith("PROXY:")
        assert "no drift" in note and "causal: each day uses data up to that day only" in note
    assert "dollar vol 8%/yr" in full.provenance["XAUUSD"].note


def test_seeded_noise_of_a_day_does_not_depend_on_how_many_days_are_drawn() -> None:
    # the proxies rely on this property of numpy's Generator for causality in data.end
    long = np.random.default_rng([7, 1]).normal(0.0, 0.004, size=5000)
    for k in (1, 17, 2500, 4999):
        assert np.array_equal(long[:k], np.random.default_rng([7, 1]).normal(0.0, 0.004, size=k))


def test_us30_proxy_is_the_factor_model_compounded_from_the_start_level() -> None:
    spx = np.array([100.0, 110.0, 110.0, 99.0])
    mask = np.array([True, True, False, True])
    dates = pd.bdate_range("1999-01-04", periods=4)
    close, out_mask, prov = us30_proxy(spx, mask, dates, np.random.default_rng(0))
    e = np.random.default_rng(0).normal(0.0, IDIO_US30, size=4) * mask
    steps = [0.0, 0.95 * np.log(1.1) + e[1], 0.0, 0.95 * np.log(0.9) + e[3]]
    assert np.allclose(close, 9184.27 * np.exp(np.cumsum(steps)), rtol=1e-12)
    assert close[2] == close[1]  # S&P 500 closed: flat, no drift
    assert np.array_equal(out_mask, mask) and prov.kind == "proxy"


def test_gold_proxy_has_beta_minus_0_8_on_the_dollar_from_fixed_constants() -> None:
    # beta = corr * gold vol / dollar vol = -0.4 * 16 % / 8 %, whatever the data
    assert abs(BETA_XAU + 0.8) < 1e-12
    assert abs(IDIO_XAU - 0.16 / np.sqrt(252) * np.sqrt(1 - 0.16)) < 1e-12
    fx = {
        "EURUSD": np.array([1.2, 1.2 * np.exp(-0.01), 1.2 * np.exp(-0.01)]),  # dollar up 1 %
        "GBPUSD": np.array([1.6, 1.6 * np.exp(-0.01), 1.6 * np.exp(-0.01)]),
        "USDJPY": np.array([110.0, 110.0 * np.exp(0.01), 110.0 * np.exp(0.01)]),
    }
    dates = pd.bdate_range("1999-01-04", periods=3)
    close, mask, _ = gold_proxy(fx, dates, np.random.default_rng(3))
    e = np.random.default_rng(3).normal(0.0, IDIO_XAU, size=3)
    r_usd = 0.01 * sum(abs(w) for w in DXY_WEIGHTS.values())  # all three legs: dollar +1 %
    expected = 288.0 * np.exp(np.cumsum([0.0, -0.8 * r_usd + e[1], e[2]]))
    assert np.allclose(close, expected, rtol=1e-12)
    assert mask.all()
