"""Per-level rewards ``[B, 1 + S]``: index 0 the meta-controller, then each specialist.

* Meta: ``reward_scale * (log(equity_{t+1} / equity_t) - drawdown_penalty * max(0, dd_{t+1} - dd_t))
  + diversification_bonus * H(allocation) / log(S)`` where ``H`` is the entropy of the
  meta-controller's allocation when the step's tensordict carries ``("action", "allocation")``
  (otherwise the bonus is 0). A wiped account's log return is floored at ``log(1e-8)``.
* Specialist ``s``: ``ret_s = (sum_{i in s} pnl_i - costs_i) / equity_t`` (its own P&L net of its own
  costs, swap included) and ``reward_s = reward_scale * (ret_s - specialist_risk_aversion *
  reward_scale * ret_s ** 2)`` — a mean-variance penalty in percent units.
"""

from __future__ import annotations

import math

import torch

from mtquant.config.env import EnvConfig

LOG_RETURN_FLOOR = math.log(1e-8)


def meta_reward(
    equity_before: torch.Tensor,
    equity_after: torch.Tensor,
    dd_before: torch.Tensor,
    dd_after: torch.Tensor,
    allocation: torch.Tensor | None,
    cfg: EnvConfig,
) -> torch.Tensor:
    """``[B]`` meta reward (see module doc)."""
    ratio = equity_after / equity_before.clamp_min(1e-12)
    log_ret = torch.log(ratio.clamp_min(1e-300)).clamp_min(LOG_RETURN_FLOOR)
    reward = cfg.reward_scale * (
        log_ret - cfg.drawdown_penalty * (dd_after - dd_before).clamp_min(0)
    )
    if allocation is not None and allocation.shape[-1] > 1:
        a = allocation.double().clamp_min(1e-12)
        entropy = -(a * a.log()).sum(-1) / math.log(a.shape[-1])
        reward = reward + cfg.diversification_bonus * entropy
    return reward


def specialist_reward(specialist_return: torch.Tensor, cfg: EnvConfig) -> torch.Tensor:
    """``[B, S]`` specialist rewards from their net returns ``[B, S]`` (see module doc)."""
    k = cfg.specialist_risk_aversion * cfg.reward_scale
    return cfg.reward_scale * (specialist_return - k * specialist_return.square())
