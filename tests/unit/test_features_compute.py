"""compute_features: shapes, dtypes, hand-checked risk inputs, normalisation and errors."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch
from test_features_fixtures import ALL8, make_market_data

from mtquant.config import compose_config, to_object
from mtquant.data.market_data import FIELDS
from mtquant.errors import DataError
from mtquant.features import FOREX_FEATURES, OBS_NAMES, compute_features
from mtquant.features.compute import VALID_FROM
from mtquant.features.instrument_obs import RAW_FEATURES
from mtquant.features.risk_inputs import MIN_COV_ROWS, VOL_FLOOR, position_returns
from mtquant.instruments import InstrumentUniverse

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def universe() -> InstrumentUniverse:
    return InstrumentUniverse.from_config(to_object(compose_config("train")).instruments)


@pytest.fixture(scope="module")
def data():
    return make_market_data(400, seed=0)


@pytest.fixture(scope="module")
def fs(data, universe):
    return compute_features(data, universe)


def test_shapes_and_dtypes_for_8_instruments(fs) -> None:
    t, n = 400, 8
    assert fs.symbols == ALL8 and fs.specialists == ["forex", "commodities", "equity"]
    assert fs.obs.shape == (t, n, 50) and fs.obs.dtype == torch.float32
    assert len(fs.obs_names) == 48 == len(set(fs.obs_names))
    assert {k: tuple(v.shape) for k, v in fs.market.items()} == {
        "forex": (t, 8), "commodities": (t, 6), "equity": (t, 7)}  # fmt: skip
    assert all(v.dtype == torch.float32 for v in fs.market.values())
    assert fs.correlations.shape == (t, 28) and fs.correlations.dtype == torch.float32
    assert fs.macro.shape == (t, 5) and len(fs.macro_names) == 5
    assert fs.cov.shape == (t, n, n) and fs.cov.dtype == torch.float32
    assert fs.vol.shape == (t, n) and fs.vol.dtype == torch.float32
    for name in ("returns", "close", "fill_price"):
        assert getattr(fs, name).shape == (t, n) and getattr(fs, name).dtype == torch.float64
    assert fs.valid_from == VALID_FROM and fs.norm_fitted_until == int(0.7 * t)
    assert fs.notes == []


def test_features_are_finite_clipped_and_zero_before_warmup(fs) -> None:
    for x in (fs.obs, fs.macro, *fs.market.values(), fs.correlations, fs.cov, fs.vol):
        assert torch.isfinite(x).all()
    for x in (fs.obs, fs.macro, *fs.market.values()):
        assert x.abs().max() <= 5.0
        assert torch.all(x[:VALID_FROM] == 0)
    assert torch.all(fs.obs[..., 48:] == 0)  # position and unrealised P&L: filled by the env
    assert torch.all(fs.vol >= VOL_FLOOR)


def test_zscored_features_have_zero_mean_unit_std_on_the_training_rows(fs) -> None:
    rows = fs.obs[fs.valid_from : fs.norm_fitted_until].double()
    k = fs.obs_names.index("ret_1d")
    torch.testing.assert_close(
        rows[..., k].mean(0), torch.zeros(8, dtype=torch.float64), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(
        rows[..., k].std(0, correction=0), torch.ones(8, dtype=torch.float64), atol=1e-5, rtol=0
    )
    rsi = fs.obs_names.index("rsi_14")  # bounded features stay as they are
    assert "rsi_14" in RAW_FEATURES and rows[..., rsi].abs().max() <= 1.0
    flag = fs.market["forex"][:, FOREX_FEATURES.index("month_end_flag")]
    assert set(flag[VALID_FROM:].unique().tolist()) == {0.0, 0.5, 1.0}


def test_returns_are_usd_position_returns_with_usdjpy_inverted(fs, data) -> None:
    c = data.close
    j, e = fs.symbols.index("USDJPY"), fs.symbols.index("EURUSD")
    torch.testing.assert_close(fs.returns[1:, j], 1.0 - c[:-1, j] / c[1:, j])
    torch.testing.assert_close(fs.returns[1:, e], c[1:, e] / c[:-1, e] - 1.0)
    assert torch.all(fs.returns[0] == 0)
    p = torch.tensor([[100.0, 1.2], [110.0, 1.5]], dtype=torch.float64)
    out = position_returns(p, torch.tensor([True, False]))
    assert out[1, 0].item() == pytest.approx(1.0 - 100.0 / 110.0)
    assert out[1, 1].item() == pytest.approx(0.25)


def test_rolling_covariance_equals_numpy_cov_of_the_window(fs) -> None:
    r = fs.returns.numpy()
    t = 300
    np.testing.assert_allclose(
        fs.cov[t].numpy(), np.cov(r[t - 99 : t + 1].T, ddof=1), rtol=1e-5, atol=1e-10
    )
    t = 50  # partial window: every real return so far (rows 1..t)
    np.testing.assert_allclose(
        fs.cov[t].numpy(), np.cov(r[1 : t + 1].T, ddof=1), rtol=1e-5, atol=1e-10
    )
    t = MIN_COV_ROWS - 1  # too few returns: diagonal of the EWMA variance
    torch.testing.assert_close(fs.cov[t], torch.diag(fs.vol[t] ** 2))


def test_correlations_are_the_row_major_upper_triangle(fs) -> None:
    t = 350
    corr = np.corrcoef(fs.returns.numpy()[t - 99 : t + 1].T)
    expected = [corr[i, j] for i in range(8) for j in range(i + 1, 8)]
    np.testing.assert_allclose(fs.correlations[t].numpy(), expected, atol=1e-5)
    assert fs.correlations[t, 0].item() == pytest.approx(corr[0, 1], abs=1e-5)  # EURUSD-GBPUSD
    assert fs.correlations[t, 27].item() == pytest.approx(corr[6, 7], abs=1e-5)  # NAS100-US30


def test_fill_price_is_open_with_a_range_and_close_otherwise(fs, data) -> None:
    spx, eur = fs.symbols.index("SPX500"), fs.symbols.index("EURUSD")
    assert torch.equal(fs.fill_price[:, spx], data.open[:, spx])
    assert torch.equal(fs.fill_price[:, eur], data.close[:, eur])
    assert not torch.equal(data.open[:, spx], data.close[:, spx])


def test_close_only_series_never_get_an_invented_range(fs, data) -> None:
    eur = fs.symbols.index("EURUSD")
    for name in ("close_location", "gap_open", "has_range_flag"):
        assert torch.all(fs.obs[:, eur, OBS_NAMES.index(name)] == 0)
    spx = fs.symbols.index("SPX500")
    assert torch.all(fs.obs[VALID_FROM:, spx, OBS_NAMES.index("has_range_flag")] == 1)


def test_forex_only_subset_computes_with_its_own_universe() -> None:
    fx = make_market_data(400, symbols=["EURUSD", "GBPUSD", "USDJPY"], seed=5)
    out = compute_features(fx)
    assert out.specialists == ["forex"] and out.symbols == ["EURUSD", "GBPUSD", "USDJPY"]
    assert out.obs.shape == (400, 3, 50) and out.correlations.shape == (400, 3)
    assert set(out.market) == {"forex"} and out.macro.shape == (400, 5)
    assert any("no equity index" in n for n in out.notes)
    assert torch.isfinite(out.obs).all() and torch.isfinite(out.macro).all()


def test_instruments_are_reordered_to_the_universe(universe) -> None:
    data = make_market_data(300, symbols=list(reversed(ALL8)), seed=2)
    out = compute_features(data, universe, train_end=280)
    assert out.symbols == ALL8
    assert torch.equal(out.close[:, 0], data.close[:, data.symbols.index("EURUSD")])
    assert torch.equal(out.close[:, 7], data.close[:, data.symbols.index("US30")])


def test_non_positive_price_is_rejected_naming_symbol_date_and_column() -> None:
    data = make_market_data(300, seed=1)
    values = data.values.clone()
    values[123, 4, FIELDS.index("close")] = -1.0
    bad = dataclasses.replace(data, values=values)
    with pytest.raises(DataError, match=rf"WTIUSD.*{data.dates[123].date()}.*close.*-1\.0"):
        compute_features(bad)


def test_too_short_data_or_train_end_inside_warmup_is_rejected() -> None:
    with pytest.raises(DataError, match="train_end"):
        compute_features(make_market_data(200, seed=1))
    with pytest.raises(DataError, match="got 260"):
        compute_features(make_market_data(300, seed=1), train_end=260)


def test_unknown_symbol_or_missing_universe_instrument_is_rejected(universe) -> None:
    data = make_market_data(300, symbols=["EURUSD", "GBPUSD"], seed=1)
    with pytest.raises(DataError, match="USDJPY"):
        compute_features(data, universe)
    odd = dataclasses.replace(data, symbols=["EURUSD", "BTCUSD"])
    with pytest.raises(DataError, match="BTCUSD"):
        compute_features(odd)


def test_user_macro_series_replace_the_proxy_of_the_same_name(data, universe) -> None:
    vix = torch.linspace(10.0, 40.0, data.n_days, dtype=torch.float64)[:, None]
    user = dataclasses.replace(data, macro=vix, macro_names=["vix_proxy"])
    out = compute_features(user, universe)
    fit = vix[VALID_FROM : out.norm_fitted_until, 0]
    expected = ((vix[VALID_FROM:, 0] - fit.mean()) / fit.std(correction=0)).clamp(-5, 5)
    torch.testing.assert_close(out.macro[VALID_FROM:, 0].double(), expected, atol=1e-5, rtol=0)
    wrong = dataclasses.replace(data, macro=vix, macro_names=["cpi"])
    with pytest.raises(DataError, match="cpi"):
        compute_features(wrong, universe)


def test_compute_features_on_5000_days_of_8_instruments(universe) -> None:
    data = make_market_data(5000, seed=9, start="1999-01-04")
    start = time.perf_counter()
    out = compute_features(data, universe)
    elapsed = time.perf_counter() - start
    print(f"compute_features 5000 x 8: {elapsed:.2f} s")  # reported, not asserted
    assert out.obs.shape == (5000, 8, 50) and torch.isfinite(out.obs).all()
