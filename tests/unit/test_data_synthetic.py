"""Synthetic source: seeded, calibrated, fat-tailed, regime-switching, with a planted causal signal."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from data_fixtures import run_config
from scipy import stats

from mtquant.config import compose_config, to_object
from mtquant.config.data import SyntheticConfig
from mtquant.data import load_market_data, model_from_config, oracle_sharpe, planted_signal
from mtquant.data.synthetic import BUILTIN_VOL, SYMBOLS

FAST = SyntheticConfig(calibrate_to_packaged=False)


def _cfg(seed: int = 7, **syn: float):
    return run_config(
        "synthetic", start=None, end=None, seed=seed, synthetic=dataclasses.replace(FAST, **syn)
    )


def _log_returns(data) -> np.ndarray:
    return np.diff(np.log(data.close.numpy()), axis=0)


def test_synthetic_same_seed_same_data_different_seed_different() -> None:
    a, b, c = (load_market_data(_cfg(seed)) for seed in (3, 3, 4))
    assert np.array_equal(a.values.numpy(), b.values.numpy())
    assert not np.array_equal(a.values.numpy(), c.values.numpy())


def test_synthetic_shape_dates_prices_and_provenance() -> None:
    data = load_market_data(_cfg())
    assert data.symbols == list(SYMBOLS) and data.n_days == 2600
    assert data.dates[0].isoformat()[:10] == "2008-01-01"
    assert data.close[0].tolist() == [1.1, 1.3, 110.0, 1300.0, 60.0, 2000.0, 5000.0, 17000.0]
    assert {p.kind for p in data.provenance.values()} == {"synthetic"}
    assert not bool(data.has_range.any()) and bool(data.mask.all())
    assert bool((data.close > 0).all())


def test_synthetic_generates_2600_days_of_8_instruments_under_a_second() -> None:
    load_market_data(_cfg(seed=1))
    start = time.perf_counter()
    load_market_data(_cfg(seed=2))
    assert time.perf_counter() - start < 1.0


def test_synthetic_vols_match_calibration_targets() -> None:
    target = np.array([BUILTIN_VOL[s] for s in SYMBOLS])
    ratios = np.stack(
        [_log_returns(load_market_data(_cfg(seed))).std(axis=0) / target for seed in range(8)]
    )
    assert np.all(np.abs(ratios.mean(axis=0) - 1.0) < 0.06)
    assert np.all((ratios > 0.75) & (ratios < 1.25))


def test_synthetic_correlation_matches_calibration() -> None:
    corr = np.mean(
        [np.corrcoef(_log_returns(load_market_data(_cfg(seed))).T) for seed in range(4)], axis=0
    )
    model = model_from_config(_cfg())
    assert np.abs(corr - model.corr).max() < 0.05


def test_synthetic_calibrates_to_packaged_data_at_run_time() -> None:
    model = model_from_config(run_config("synthetic", start=None, end=None))
    assert "packaged data 1999-01-04..2018-12-31" in model.calibration
    builtin = np.array([BUILTIN_VOL[s] for s in SYMBOLS])
    assert model.daily_vol == pytest.approx(builtin, rel=0.03)  # the table is its rounding


def test_synthetic_returns_have_fat_tails_and_volatility_clustering() -> None:
    r = _log_returns(load_market_data(_cfg(seed=5)))[:, 0]
    assert stats.kurtosis(r) > 1.0  # Gaussian = 0
    a = np.abs(r)
    assert np.corrcoef(a[1:], a[:-1])[0, 1] > 0.05  # regimes -> |r| autocorrelated


def _pooled_ic(seed: int, strength: float) -> float:
    cfg = _cfg(seed, signal_strength=strength)
    data, model = load_market_data(cfg), model_from_config(cfg)
    s = planted_signal(data.close, model)
    z = _log_returns(data) / model.daily_vol
    return float(np.corrcoef(s[:-1].ravel(), z.ravel())[0, 1])


def test_planted_signal_has_the_configured_information_coefficient() -> None:
    ics = [_pooled_ic(seed, 0.1) for seed in range(5)]
    assert np.mean(ics) == pytest.approx(0.1, abs=0.02)


def test_planted_signal_absent_when_strength_zero() -> None:
    ics = [_pooled_ic(seed, 0.0) for seed in range(5)]
    assert abs(np.mean(ics)) < 0.02


def test_oracle_sharpe_positive_with_signal_and_zero_without() -> None:
    cfg = _cfg(11, signal_strength=0.1)
    assert oracle_sharpe(load_market_data(cfg), model_from_config(cfg)) > 1.5
    cfg0 = _cfg(11, signal_strength=0.0)
    assert oracle_sharpe(load_market_data(cfg0), model_from_config(cfg0)) == 0.0


def test_planted_signal_is_causal() -> None:
    cfg = _cfg(2, signal_strength=0.1)
    data, model = load_market_data(cfg), model_from_config(cfg)
    close = data.close.numpy().copy()
    base = planted_signal(close, model)
    close[1500:] *= 1.5
    bumped = planted_signal(close, model)
    np.testing.assert_array_equal(base[:1500], bumped[:1500])
    assert not np.allclose(base[1500:], bumped[1500:])


def test_synthetic_signal_config_composes_and_loads() -> None:
    cfg = to_object(
        compose_config(
            "train", ["data=synthetic_signal", "data.synthetic.calibrate_to_packaged=false"]
        )
    )
    data = load_market_data(cfg)
    assert data.n_days == cfg.data.synthetic.n_days
    assert model_from_config(cfg).signal_strength == 0.1
