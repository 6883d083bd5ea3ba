"""The PPO core shared by the three training phases: GAE per level and the clipped loss.

The hierarchy has ``1 + S`` levels: level 0 is the meta-controller, level ``1 + s`` the
specialist ``s``. Every level has its own reward, value and log-prob (the env writes
``reward [.., 1+S]``, the policy ``value [.., 1+S]``, ``("log_prob", "meta") [..]`` and
``("log_prob", "specialists") [.., S]``). A phase trains a subset of levels, given as a
boolean ``level_mask [1+S]``: each active level's probability ratio is paired with its own
advantage (CleanRL's clipped surrogate, with the paper's names), and the hierarchical
log-prob used for the joint KL is the masked sum of the levels' log-probs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDictBase
from torchrl.objectives.value.functional import generalized_advantage_estimate

LOG_PROB_META = ("log_prob", "meta")
LOG_PROB_SPECIALISTS = ("log_prob", "specialists")
ENTROPY_META = ("entropy", "meta")
ENTROPY_SPECIALISTS = ("entropy", "specialists")


@dataclass(frozen=True)
class PPOCoefficients:
    """Hyper-parameters of one PPO update (CleanRL names)."""

    clip_range: float = 0.2  # |ratio - 1| beyond which the surrogate is clipped
    value_coef: float = 0.5  # weight of v_loss
    entropy_coef: float = 0.01  # weight of the entropy bonus
    normalize_advantages: bool = True  # per level, per minibatch


def level_mask(n_specialists: int, train_meta: bool, train_specialists: bool) -> torch.Tensor:
    """Boolean ``[1+S]`` mask of the levels a phase trains (index 0 = meta)."""
    mask = torch.zeros(1 + n_specialists, dtype=torch.bool)
    mask[0] = train_meta
    mask[1:] = train_specialists
    return mask


def per_level(meta: torch.Tensor, specialists: torch.Tensor) -> torch.Tensor:
    """Stack a meta quantity ``[..]`` and the specialists' ``[.., S]`` into ``[.., 1+S]``."""
    return torch.cat([meta.unsqueeze(-1), specialists], dim=-1)


def compute_gae(
    reward: torch.Tensor,
    value: torch.Tensor,
    next_value: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE for every level at once: returns ``(advantages, returns)``, each ``[B, T, 1+S]``.

    ``reward``, ``value`` and ``next_value`` are ``[B, T, 1+S]`` (time on dim -2), ``done`` and
    ``terminated`` ``[B, T, 1]``. TorchRL's ``generalized_advantage_estimate`` treats the last
    dim as features, so the 1+S levels are handled in one call: a truncated episode
    (done, not terminated) bootstraps from ``next_value``; a terminated one does not.
    """
    levels = reward.shape[-1]
    done_l = done.bool().expand(*done.shape[:-1], levels)
    terminated_l = terminated.bool().expand(*terminated.shape[:-1], levels)
    advantages, returns = generalized_advantage_estimate(
        gamma,
        gae_lambda,
        state_value=value,
        next_state_value=next_value,
        reward=reward.to(value.dtype),
        done=done_l,
        terminated=terminated_l,
        time_dim=-2,
    )
    return advantages, returns


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """``1 - Var(returns - values) / Var(returns)`` per level, over all leading dims: ``[1+S]``."""
    flat_v = values.reshape(-1, values.shape[-1])
    flat_r = returns.reshape(-1, returns.shape[-1])
    var_r = flat_r.var(dim=0, unbiased=False)
    var_res = (flat_r - flat_v).var(dim=0, unbiased=False)
    return torch.where(var_r > 0, 1.0 - var_res / var_r, torch.full_like(var_r, float("nan")))


def ppo_loss(
    new: TensorDictBase,
    old: TensorDictBase,
    mask: torch.Tensor,
    coef: PPOCoefficients,
) -> dict[str, torch.Tensor]:
    """Clipped PPO loss over the levels in ``mask`` for a minibatch of ``M`` transitions.

    ``old`` holds what was stored at collection: the two log-prob keys, ``advantages`` and
    ``returns`` ``[M, 1+S]``. ``new`` holds the same log-prob keys recomputed for the stored
    actions, the entropies ``("entropy", "meta") [M]`` / ``("entropy", "specialists") [M, S]``
    and ``value [M, 1+S]`` (the policy's ``evaluate_actions``). Returns ``loss`` and the
    diagnostics ``pg_loss``, ``v_loss``, ``entropy_loss``, ``approx_kl``, ``clipfrac``
    (averaged over active levels), plus ``ratio`` ``[M, 1+S]`` for inspection.
    """
    active = mask.to(device=old["advantages"].device)
    weight = active.to(old["advantages"].dtype)  # [1+S]
    n_active = weight.sum().clamp_min(1.0)

    new_logp = per_level(new[LOG_PROB_META], new[LOG_PROB_SPECIALISTS])  # [M, 1+S]
    old_logp = per_level(old[LOG_PROB_META], old[LOG_PROB_SPECIALISTS])
    logratio = new_logp - old_logp.detach()
    ratio = logratio.exp()

    advantages = old["advantages"].detach()
    if coef.normalize_advantages and advantages.shape[0] > 1:
        advantages = (advantages - advantages.mean(0)) / (advantages.std(0) + 1e-8)

    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1.0 - coef.clip_range, 1.0 + coef.clip_range)
    pg_per_level = torch.max(pg_loss1, pg_loss2).mean(0)  # [1+S]
    pg_loss = (pg_per_level * weight).sum()

    v_per_level = 0.5 * ((new["value"] - old["returns"].detach()) ** 2).mean(0)  # [1+S]
    v_loss = (v_per_level * weight).sum()

    entropy = per_level(new[ENTROPY_META], new[ENTROPY_SPECIALISTS]).mean(0)  # [1+S]
    entropy_loss = (entropy * weight).sum()

    loss = pg_loss - coef.entropy_coef * entropy_loss + coef.value_coef * v_loss

    with torch.no_grad():
        approx_kl = (((ratio - 1.0) - logratio).mean(0) * weight).sum() / n_active
        clipped = ((ratio - 1.0).abs() > coef.clip_range).to(ratio.dtype).mean(0)
        clipfrac = (clipped * weight).sum() / n_active
    return {
        "loss": loss,
        "pg_loss": pg_loss,
        "v_loss": v_loss,
        "entropy_loss": entropy_loss,
        "approx_kl": approx_kl,
        "clipfrac": clipfrac,
        "ratio": ratio.detach(),
    }
