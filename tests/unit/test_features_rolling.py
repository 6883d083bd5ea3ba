"""Causal rolling primitives and RSI against hand-computed values and pandas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from mtquant.features.instrument_obs import rsi
from mtquant.features.rolling import (
    capped_expanding_mean,
    ema,
    ewma_variance,
    lag,
    rolling_corr,
    rolling_max,
    rolling_std,
    wilder,
)


def test_rsi_matches_hand_computed_wilder_values() -> None:
    close = torch.tensor([10.0, 11.0, 10.5, 11.5, 11.0, 12.0], dtype=torch.float64)[:, None]
    out = rsi(close, n=3)[:, 0]
    # changes +1, -0.5, +1, -0.5, +1; seed (row 3): gain 2/3, loss 1/6 -> 80
    # row 4: gain (2 * 2/3 + 0) / 3 = 4/9, loss (2 * 1/6 + 0.5) / 3 = 5/18 -> 800 / 13
    # row 5: gain (2 * 4/9 + 1) / 3 = 17/27, loss (2 * 5/18) / 3 = 5/27 -> 1700 / 22
    assert torch.isnan(out[:3]).all()
    torch.testing.assert_close(
        out[3:], torch.tensor([80.0, 800.0 / 13.0, 1700.0 / 22.0], dtype=torch.float64)
    )


def test_rsi_is_100_for_a_rising_series_and_50_for_a_flat_one() -> None:
    rising = torch.arange(1.0, 31.0, dtype=torch.float64)[:, None]
    flat = torch.full((30, 1), 5.0, dtype=torch.float64)
    assert torch.all(rsi(rising)[14:] == 100.0)
    assert torch.all(rsi(flat)[14:] == 50.0)


def test_ema_equals_pandas_ewm_without_adjustment() -> None:
    x = np.random.default_rng(1).standard_normal((50, 3)).cumsum(axis=0)
    expected = pd.DataFrame(x).ewm(span=12, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(ema(torch.from_numpy(x), 12).numpy(), expected, rtol=1e-12)


def test_wilder_seeds_with_the_mean_then_recurses() -> None:
    x = torch.tensor([9.0, 1.0, 2.0, 3.0, 7.0], dtype=torch.float64)[:, None]
    out = wilder(x, 3, start=1)[:, 0]
    assert torch.isnan(out[:3]).all()
    assert out[3].item() == 2.0  # mean of rows 1..3
    assert out[4].item() == (2 * 2.0 + 7.0) / 3


def test_rolling_std_and_max_match_pandas_and_are_nan_before_the_window() -> None:
    x = np.random.default_rng(2).standard_normal((40, 2))
    frame = pd.DataFrame(x)
    np.testing.assert_allclose(
        rolling_std(torch.from_numpy(x), 7).numpy(),
        frame.rolling(7).std().to_numpy(),
        rtol=1e-10,
        equal_nan=True,
    )
    np.testing.assert_allclose(
        rolling_max(torch.from_numpy(x), 7).numpy(),
        frame.rolling(7).max().to_numpy(),
        equal_nan=True,
    )


def test_rolling_corr_matches_numpy_corrcoef() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal(30), rng.standard_normal(30)
    out = rolling_corr(torch.from_numpy(x), torch.from_numpy(y), 10)
    assert math.isclose(out[29].item(), np.corrcoef(x[20:], y[20:])[0, 1], rel_tol=1e-10)
    assert torch.isnan(out[8])


def test_lag_shifts_down_and_pads_with_nan() -> None:
    x = torch.arange(5.0)
    assert torch.isnan(lag(x, 2)[:2]).all() and lag(x, 2)[2:].tolist() == [0.0, 1.0, 2.0]
    assert torch.isnan(lag(x, 9)).all()


def test_capped_expanding_mean_uses_the_last_max_w_rows_once_min_w_exist() -> None:
    x = torch.arange(10.0, dtype=torch.float64)
    out = capped_expanding_mean(x, max_w=4, min_w=3)
    assert torch.isnan(out[:2]).all()
    assert out[2].item() == 1.0  # mean(0, 1, 2)
    assert out[9].item() == 7.5  # mean(6, 7, 8, 9)


def test_ewma_variance_is_bias_corrected_from_the_first_return() -> None:
    r = torch.tensor([0.0, 0.02, -0.01], dtype=torch.float64)[:, None]
    out = ewma_variance(r, 0.94, start=1)[:, 0]
    assert torch.isnan(out[0])
    assert math.isclose(out[1].item(), 0.02**2, rel_tol=1e-12)
    expected = (0.06 * 0.94 * 0.02**2 + 0.06 * 0.01**2) / (1 - 0.94**2)
    assert math.isclose(out[2].item(), expected, rel_tol=1e-12)
