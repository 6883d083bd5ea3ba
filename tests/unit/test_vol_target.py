"""Matched volatility: every strategy's book scaled to one ex-ante volatility before the guard."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from mtquant.agents.baselines import EqualWeight, TimeSeriesMomentum
from mtquant.agents.vol_target import VolatilityTarget, scale_to_volatility
from mtquant.config import compose_config, to_object
from mtquant.errors import ConfigError
from mtquant.evaluation.backtest import measure_decision_latency, run_strategy
from mtquant.instruments import InstrumentUniverse
from mtquant.testing.random_walk import random_walk_features

CFG = to_object(compose_config("train", []))
UNIVERSE = InstrumentUniverse.from_config(CFG.instruments)


def test_scaled_book_has_the_target_volatility_keeps_signs_and_respects_the_cap() -> None:
    sd = torch.tensor([0.01, 0.02, 0.005])
    cov = torch.diag(sd**2) + 0.5 * torch.outer(sd, sd) * (1 - torch.eye(3))
    w = torch.tensor([[0.2, -0.1, 0.4], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    out = scale_to_volatility(w, cov.expand(3, 3, 3), daily_vol=0.006, max_weight=2.0)
    vol0 = (out[0] @ cov @ out[0]).sqrt()
    assert vol0.item() == pytest.approx(0.006, rel=1e-6)
    assert torch.equal(torch.sign(out[0]), torch.sign(w[0]))
    assert torch.allclose(out[0] / w[0], (out[0] / w[0])[0].expand(3))  # one scale per book
    assert out[1].abs().sum().item() == 0.0  # flat stays flat
    capped = scale_to_volatility(w[2:], cov, daily_vol=1.0, max_weight=2.0)
    assert capped.abs().max().item() == pytest.approx(2.0)


def test_env_target_annual_vol_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="env.target_annual_vol"):
        to_object(compose_config("train", ["env.target_annual_vol=-0.1"]))


def test_every_strategy_runs_at_the_target_when_the_key_is_set() -> None:
    """Equal weight and momentum hold different risk raw; at the target both realise ~10%."""
    f = random_walk_features(UNIVERSE, n_days=900, seed=6)
    split = (300, 900)
    matched = replace(CFG, env=replace(CFG.env, target_annual_vol=0.10))
    for make in (EqualWeight, lambda: TimeSeriesMomentum(f, 0.01)):
        raw = run_strategy(CFG, f, split, make(), "raw")
        at = run_strategy(matched, f, split, make(), "matched")
        held = np.abs(at.weights).sum(-1) > 0
        realised = at.returns[1:][held[:-1]].std() * 252**0.5
        assert realised == pytest.approx(0.10, rel=0.25)
        assert not np.allclose(raw.weights, at.weights)
        # the book's proportions are the policy's: only its size changed
        last = at.weights[-1] / np.abs(at.weights[-1]).sum()
        assert np.allclose(last, raw.weights[-1] / np.abs(raw.weights[-1]).sum(), atol=0.02)


def test_the_live_step_applies_the_same_target() -> None:
    f = random_walk_features(UNIVERSE, n_days=400, seed=7)
    matched = replace(CFG, env=replace(CFG.env, target_annual_vol=0.10))
    timing = measure_decision_latency(matched, f, (300, 400), EqualWeight(), n_decisions=5)
    assert timing["n"] == 5


def test_volatility_target_needs_the_decision_row() -> None:
    from tensordict import TensorDict

    from mtquant.errors import DataError

    f = random_walk_features(UNIVERSE, n_days=60, seed=1)
    pol = VolatilityTarget(EqualWeight(), f.ewma_cov, 0.1)
    with pytest.raises(DataError, match="date_index"):
        pol(TensorDict({"vol": torch.full((1, 8), 0.01)}, batch_size=[1]))
