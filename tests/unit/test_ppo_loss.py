"""PPO core: clipped surrogate, per-level masking and GAE on hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch
from tensordict import TensorDict

from mtquant.agents.training.ppo_loss import (
    PPOCoefficients,
    compute_gae,
    explained_variance,
    level_mask,
    ppo_loss,
)

NO_NORM = PPOCoefficients(
    clip_range=0.2, value_coef=0.5, entropy_coef=0.0, normalize_advantages=False
)


def _batch(logp_meta, logp_spec, adv, returns=None, value=None, ent_meta=None, ent_spec=None):
    m, s = logp_spec.shape
    returns = torch.zeros(m, 1 + s) if returns is None else returns
    value = torch.zeros(m, 1 + s) if value is None else value
    td = TensorDict(
        {
            ("log_prob", "meta"): logp_meta,
            ("log_prob", "specialists"): logp_spec,
            ("entropy", "meta"): torch.zeros(m) if ent_meta is None else ent_meta,
            ("entropy", "specialists"): torch.zeros(m, s) if ent_spec is None else ent_spec,
            "advantages": adv,
            "returns": returns,
            "value": value,
        },
        batch_size=[m],
    )
    return td


def test_ratio_one_gives_minus_mean_advantage_and_no_clipping():
    adv = torch.tensor([[1.0, 2.0, -1.0], [3.0, 0.5, 1.5]])  # [M=2, 1+S=3]
    old = _batch(torch.zeros(2), torch.zeros(2, 2), adv)
    out = ppo_loss(old, old, level_mask(2, True, True), NO_NORM)
    # per level -mean(adv): meta -2, spec1 -1.25, spec2 -0.25; summed over active levels
    assert out["pg_loss"].item() == pytest.approx(-(2.0 + 1.25 + 0.25))
    assert out["clipfrac"].item() == 0.0
    assert out["approx_kl"].item() == pytest.approx(0.0, abs=1e-7)
    torch.testing.assert_close(out["ratio"], torch.ones(2, 3))


def test_clipped_case_uses_the_pessimistic_bound():
    # one transition, one specialist; meta masked out (phase 1)
    adv = torch.tensor([[5.0, 1.0]])
    old = _batch(torch.zeros(1), torch.zeros(1, 1), adv)
    new = _batch(torch.zeros(1), torch.full((1, 1), math.log(1.5)), adv)
    out = ppo_loss(new, old, level_mask(1, False, True), NO_NORM)
    # ratio 1.5 > 1.2 with positive advantage: min(1.5 * 1, 1.2 * 1) = 1.2 -> pg_loss = -1.2
    assert out["pg_loss"].item() == pytest.approx(-1.2)
    assert out["clipfrac"].item() == 1.0
    # negative advantage and ratio 1.5: max(-(-1)*1.5, -(-1)*1.2) = 1.5 (unclipped, pessimistic)
    old_neg = _batch(torch.zeros(1), torch.zeros(1, 1), torch.tensor([[5.0, -1.0]]))
    out_neg = ppo_loss(new, old_neg, level_mask(1, False, True), NO_NORM)
    assert out_neg["pg_loss"].item() == pytest.approx(1.5)


def test_masked_levels_get_no_gradient():
    logp_meta = torch.zeros(3, requires_grad=True)
    logp_spec = torch.zeros(3, 2, requires_grad=True)
    value = torch.zeros(3, 3, requires_grad=True)
    adv = torch.randn(3, 3, generator=torch.Generator().manual_seed(0))
    new = _batch(logp_meta, logp_spec, adv, value=value)
    old = _batch(torch.zeros(3), torch.zeros(3, 2), adv, returns=torch.ones(3, 3))
    ppo_loss(new, old, level_mask(2, train_meta=True, train_specialists=False), NO_NORM)[
        "loss"
    ].backward()
    assert logp_meta.grad is not None and logp_meta.grad.abs().sum() > 0
    assert logp_spec.grad is not None and logp_spec.grad.abs().sum() == 0
    assert (
        value.grad is not None
        and value.grad[:, 1:].abs().sum() == 0
        and value.grad[:, 0].abs().sum() > 0
    )


def test_value_loss_and_entropy_bonus_enter_the_total():
    adv = torch.zeros(2, 2)
    new = _batch(
        torch.zeros(2),
        torch.zeros(2, 1),
        adv,
        value=torch.tensor([[1.0, 0.0], [3.0, 0.0]]),
        ent_meta=torch.tensor([0.4, 0.6]),
        ent_spec=torch.ones(2, 1),
    )
    old = _batch(torch.zeros(2), torch.zeros(2, 1), adv)
    coef = PPOCoefficients(
        clip_range=0.2, value_coef=0.5, entropy_coef=0.1, normalize_advantages=False
    )
    out = ppo_loss(new, old, level_mask(1, True, False), coef)
    assert out["v_loss"].item() == pytest.approx(0.5 * (1 + 9) / 2)  # meta level only
    assert out["entropy_loss"].item() == pytest.approx(0.5)
    assert out["loss"].item() == pytest.approx(0.0 - 0.1 * 0.5 + 0.5 * 2.5)


def test_gae_per_level_matches_hand_computation_for_three_steps():
    gamma, lam = 0.9, 0.8
    # one env, T=3, two levels with different rewards and values
    reward = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]])
    value = torch.tensor([[[0.5, 1.0], [0.2, 0.0], [0.1, 0.3]]])
    next_value = torch.tensor([[[0.2, 0.0], [0.1, 0.3], [0.4, 0.6]]])
    done = torch.zeros(1, 3, 1, dtype=torch.bool)
    adv, ret = compute_gae(reward, value, next_value, done, done.clone(), gamma, lam)
    for level in range(2):
        r, v, nv = reward[0, :, level], value[0, :, level], next_value[0, :, level]
        delta = r + gamma * nv - v
        a2 = delta[2]
        a1 = delta[1] + gamma * lam * a2
        a0 = delta[0] + gamma * lam * a1
        torch.testing.assert_close(adv[0, :, level], torch.stack([a0, a1, a2]))
        torch.testing.assert_close(ret[0, :, level], torch.stack([a0, a1, a2]) + v)


def test_gae_stops_at_termination_and_bootstraps_truncation():
    reward = torch.tensor([[[1.0], [1.0]]])
    value = torch.zeros(1, 2, 1)
    next_value = torch.full((1, 2, 1), 10.0)
    done = torch.tensor([[[True], [False]]])
    adv_term, _ = compute_gae(reward, value, next_value, done, done.clone(), 0.5, 1.0)
    adv_trunc, _ = compute_gae(reward, value, next_value, done, torch.zeros_like(done), 0.5, 1.0)
    assert adv_term[0, 0, 0].item() == pytest.approx(1.0)  # no bootstrap, no carry-over
    assert adv_trunc[0, 0, 0].item() == pytest.approx(1.0 + 0.5 * 10.0)  # bootstrap only


def test_explained_variance_is_one_for_perfect_values_and_zero_for_mean():
    returns = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])
    ev = explained_variance(returns, returns)
    torch.testing.assert_close(ev, torch.ones(2))
    ev_mean = explained_variance(returns.mean(0).expand_as(returns), returns)
    torch.testing.assert_close(ev_mean, torch.zeros(2), atol=1e-6, rtol=0)
