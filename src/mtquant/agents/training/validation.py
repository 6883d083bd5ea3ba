"""Model selection on the validation split: one deterministic episode, annualised Sharpe.

The validation env starts one account (``B = 1``) at the first tradable row of the validation
split and runs to its end with the policy's deterministic action (the mode / mean of each
distribution). The Sharpe ratio is annualised from daily simple returns of equity:
``sqrt(252) * mean / std`` (``ddof = 1``; 0 when the equity never moves). The test split is
never used here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tensordict import TensorDictBase
from torchrl.envs import EnvBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

TRADING_DAYS = 252


def sharpe_ratio(daily_returns: torch.Tensor) -> float:
    """Annualised Sharpe ratio of daily simple returns ``[T]`` (zero risk-free rate)."""
    r = daily_returns.double().flatten()
    if r.numel() < 2:
        return 0.0
    sd = r.std(unbiased=True)
    if not torch.isfinite(sd) or sd.item() <= 1e-12:
        return 0.0
    return math.sqrt(TRADING_DAYS) * (r.mean() / sd).item()


def equity_curve(rollout: TensorDictBase) -> torch.Tensor:
    """Equity of the first account, start then after each step: ``[T + 1]`` (float64)."""
    start = rollout["equity"][0, 0].reshape(1).double()
    after = rollout["next", "equity"][0].reshape(-1).double()
    return torch.cat([start, after])


def run_validation(
    env: EnvBase, policy: Callable[[TensorDictBase], TensorDictBase], max_steps: int
) -> dict[str, float]:
    """Run ``policy`` deterministically for one episode of ``env``; return Sharpe and return."""
    with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        rollout = env.rollout(max_steps, policy, break_when_any_done=True)
    equity = equity_curve(rollout)
    daily = equity[1:] / equity[:-1].clamp_min(1e-12) - 1.0
    return {
        "sharpe": sharpe_ratio(daily),
        "total_return": (equity[-1] / equity[0] - 1.0).item(),
        "days": float(daily.numel()),
    }
