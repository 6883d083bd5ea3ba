"""Causality: every feature at rows <= t is unchanged when prices after t change."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_features_fixtures import make_market_data

from mtquant.data.market_data import FIELDS, MarketData
from mtquant.features import compute_features, default_universe
from mtquant.features.compute import MIN_FIT_ROWS, VALID_FROM

N_DAYS = 340
DATA = make_market_data(N_DAYS, seed=3)
UNIVERSE = default_universe(DATA.symbols)
FIRST_T = VALID_FROM + MIN_FIT_ROWS


def perturb_after(data: MarketData, t: int, seed: int) -> MarketData:
    """Scale every price field (and volume) of every instrument at rows > t by random factors."""
    rng = np.random.default_rng(seed)
    values = data.values.clone()
    later = values.shape[0] - t - 1
    factor = torch.from_numpy(np.exp(0.05 * rng.standard_normal((later, values.shape[1]))))
    for f in ("open", "high", "low", "close", "volume"):
        values[t + 1 :, :, FIELDS.index(f)] *= factor
    return dataclasses.replace(data, values=values)


def feature_tensors(fs) -> dict[str, torch.Tensor]:
    out = {
        "obs": fs.obs, "correlations": fs.correlations, "macro": fs.macro, "returns": fs.returns,
        "vol": fs.vol, "cov": fs.cov, "close": fs.close, "fill_price": fs.fill_price,
    }  # fmt: skip
    out.update({f"market.{k}": v for k, v in fs.market.items()})
    return out


@settings(max_examples=20, deadline=None)
@given(
    t=st.integers(min_value=FIRST_T, max_value=N_DAYS - 2),
    fit_gap=st.integers(min_value=0, max_value=N_DAYS),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_features_at_t_ignore_data_after_t(t: int, fit_gap: int, seed: int) -> None:
    train_end = max(FIRST_T, t - fit_gap)  # statistics fitted on rows < train_end <= t
    base = feature_tensors(compute_features(DATA, UNIVERSE, train_end=train_end))
    moved = feature_tensors(
        compute_features(perturb_after(DATA, t, seed), UNIVERSE, train_end=train_end)
    )
    for name, x in base.items():
        assert torch.equal(x[: t + 1], moved[name][: t + 1]), f"{name} at rows <= {t} changed"
    # the perturbation is real: later rows do move, so the check above could fail
    assert not torch.equal(base["close"][t + 1 :], moved["close"][t + 1 :])
    assert not torch.equal(base["obs"][t + 1 :], moved["obs"][t + 1 :])


def test_perturbing_before_t_changes_features_at_t() -> None:
    """Control: the comparison used above does detect a change that reaches row t."""
    t = FIRST_T + 10
    values = DATA.values.clone()
    values[t, :, :4] *= 1.03
    moved = dataclasses.replace(DATA, values=values)
    a = compute_features(DATA, UNIVERSE, train_end=FIRST_T)
    b = compute_features(moved, UNIVERSE, train_end=FIRST_T)
    assert not torch.equal(a.obs[t], b.obs[t])
    assert torch.equal(a.obs[:t], b.obs[:t])
