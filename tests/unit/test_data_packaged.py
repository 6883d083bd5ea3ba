"""The packaged source: 8 instruments, 1999-01-04..2018-12-31, ECB rates exact, proxies labelled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from data_fixtures import run_config

from mtquant.config import compose_config, to_object
from mtquant.data import load_market_data
from mtquant.errors import DataError

ALL8 = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "WTIUSD", "SPX500", "NAS100", "US30"]


@pytest.fixture(scope="module")
def packaged():
    return load_market_data(to_object(compose_config("train", ["data=packaged"])))


def test_packaged_has_all8_in_config_order_over_the_common_window(packaged) -> None:
    assert packaged.symbols == ALL8
    assert packaged.dates[0] == pd.Timestamp("1999-01-04")
    assert packaged.dates[-1] == pd.Timestamp("2018-12-31")
    assert packaged.values.shape == (packaged.n_days, 8, 6)
    assert packaged.dates.is_monotonic_increasing and packaged.dates.is_unique
    assert (packaged.dates.day_of_week < 5).all()


def test_packaged_flags_proxies_and_real_sources(packaged) -> None:
    kinds = {s: p.kind for s, p in packaged.provenance.items()}
    assert kinds == {s: ("proxy" if s in ("XAUUSD", "US30") else "real") for s in ALL8}
    assert "PROXY" in packaged.provenance["US30"].note
    assert "ECB" in packaged.provenance["EURUSD"].source


@pytest.mark.parametrize(
    ("date", "eurusd", "gbpusd", "usdjpy"),
    [
        # ECB: USD 1.1789, JPY 133.73, GBP 0.7111 per EUR
        ("1999-01-04", 1.1789, 1.1789 / 0.7111, 133.73 / 1.1789),
        # ECB: USD 1.599, JPY 167.48, GBP 0.79555
        ("2008-07-15", 1.599, 2.00993024, 104.740463),
        # ECB: USD 1.145, JPY 125.85, GBP 0.89453
        ("2018-12-31", 1.145, 1.28000179, 109.912664),
    ],
)
def test_packaged_fx_equals_ecb_reference_rates(packaged, date, eurusd, gbpusd, usdjpy) -> None:
    row = packaged.to_frame("close").loc[date]
    assert row["EURUSD"] == pytest.approx(eurusd, abs=1e-9)
    assert row["GBPUSD"] == pytest.approx(gbpusd, abs=1e-7)
    assert row["USDJPY"] == pytest.approx(usdjpy, abs=1e-5)


def test_packaged_close_only_series_have_flat_bars(packaged) -> None:
    has_range = dict(zip(packaged.symbols, packaged.has_range.tolist(), strict=True))
    assert has_range == {s: s in ("SPX500", "NAS100") for s in ALL8}
    flat = ~packaged.has_range
    v = packaged.values[:, flat]
    for f in range(3):  # open, high, low == close
        assert np.array_equal(v[..., f].numpy(), v[..., 3].numpy())


def test_packaged_equity_ohlc_is_consistent_and_spx_open_is_real(packaged) -> None:
    spx = packaged.to_frame("open")["SPX500"]
    assert spx.loc["1999-01-04"] == pytest.approx(1229.22998, abs=1e-4)  # arch.data.sp500 Open
    hi, lo = packaged.field("high"), packaged.field("low")
    assert bool((hi >= lo).all())


def test_packaged_fill_is_bounded_and_911_gap_is_reported(packaged) -> None:
    # NYSE shut 2001-09-11..14: four market days; three are filled, the fourth is dropped
    assert pd.Timestamp("2001-09-13") in packaged.dates
    assert pd.Timestamp("2001-09-14") not in packaged.dates
    assert any("SPX500" in g and "2001-09-11" in g for g in packaged.gaps)
    spx = packaged.symbols.index("SPX500")
    t = packaged.dates.get_loc(pd.Timestamp("2001-09-13"))
    assert not bool(packaged.mask[t, spx])
    assert packaged.close[t, spx] == packaged.close[t - 2, spx]  # 09-10 close carried
    # never more than 3 filled days in a row for any instrument
    m = packaged.mask.numpy()
    run = np.zeros(m.shape[1], dtype=int)
    longest = 0
    for row in m:
        run = np.where(row, 0, run + 1)
        longest = max(longest, int(run.max()))
    assert longest <= 3


def test_packaged_proxies_are_seeded_and_realistic() -> None:
    a = load_market_data(run_config(seed=1, symbols={"x": ["XAUUSD", "US30", "SPX500"]}))
    b = load_market_data(run_config(seed=1, symbols={"x": ["XAUUSD", "US30", "SPX500"]}))
    c = load_market_data(run_config(seed=2, symbols={"x": ["XAUUSD", "US30", "SPX500"]}))
    assert np.array_equal(a.values.numpy(), b.values.numpy())
    assert not np.array_equal(a.close[:, 0].numpy(), c.close[:, 0].numpy())
    r = np.diff(np.log(a.close.numpy()), axis=0)
    assert np.std(r[:, 0]) * np.sqrt(252) == pytest.approx(0.16, abs=0.02)  # gold vol
    assert np.corrcoef(r[:, 1], r[:, 2])[0, 1] > 0.9  # Dow proxy tracks the S&P 500
    # documented start levels on 1999-01-04; no end level is pinned (that would see the future)
    assert a.close[0, 1] == 9184.27 and a.close[0, 0] == 288.0


def test_packaged_rejects_unknown_symbol_listing_available() -> None:
    with pytest.raises(DataError, match=r"unknown symbol AUDUSD; available: EURUSD, GBPUSD"):
        load_market_data(run_config(symbols={"forex": ["EURUSD", "AUDUSD"]}))


def test_packaged_window_follows_data_start_and_end() -> None:
    data = load_market_data(
        run_config(start="2010-01-01", end="2010-12-31", symbols={"fx": ["EURUSD", "WTIUSD"]})
    )
    assert data.dates[0] == pd.Timestamp("2010-01-04")
    assert data.dates[-1] == pd.Timestamp("2010-12-31")


def test_load_accepts_composed_dictconfig_with_forex_instruments() -> None:
    data = load_market_data(compose_config("train", ["instruments=forex"]))
    assert data.symbols == ["EURUSD", "GBPUSD", "USDJPY"]
    assert data.gaps == []  # the FX fixings alone have no gap beyond the fill limit


def test_proxies_quote_the_table_spread_as_a_constant_fraction_of_their_price(packaged) -> None:
    """A driftless proxy can end far from the level its table spread was observed at; its bars
    quote that spread in proportion to the price (0.30 USD at 1,300 USD/oz: 2.3 bp)."""
    spread, close = packaged.values[..., 5].numpy(), packaged.close.numpy()
    for symbol, table, level in (("XAUUSD", 0.30, 1300.0), ("US30", 2.5, 25000.0)):
        k = ALL8.index(symbol)
        assert bool(packaged.has_spread[k])
        np.testing.assert_allclose(spread[:, k] / close[:, k], table / level, rtol=1e-12)
    real = [ALL8.index(s) for s in ("EURUSD", "SPX500")]
    assert not packaged.has_spread[real].any()  # real series: the table's constant spread
