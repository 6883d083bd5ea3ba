"""Sizing: (direction, allocation, appetite, volatility) -> target weights of equity.

The rule (documented in ``docs/hierarchical-architecture.md``):

* each specialist ``s`` gets a daily-volatility budget
  ``budget_s = allocation_s * appetite * target_vol * S``, so an equal allocation (1/S each)
  at appetite 1 gives every specialist ``target_vol`` of daily volatility;
* inside ``s`` the ``n_s`` legs share that budget in inverse proportion to their volatility,
  ``w_i = position_i * budget_s / (n_s * vol_i)`` (correlation inside the specialist is ignored;
  the risk transform downstream handles the portfolio), where ``position_i`` in ``[-1, 1]`` is
  the leg's signed share of its budget: +1 long (direction 0), 0 flat (1), -1 short (2) for a
  sampled or argmax direction, or the policy's expected position ``P(long) - P(short)`` (the
  ``"mean"`` evaluation mode, :data:`mtquant.config.agents.POSITION_MODES`) -- a flat leg's
  share is not handed to the others;
* finally ``|w_i| <= max_weight``.

Weights are notional / equity (a weight of 1.5 = 1.5 x equity of USD notional).
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from mtquant.config.agents import check_position_mode

VOL_FLOOR = 1e-8  # a zero volatility would give an infinite weight; max_weight then binds
POSITION_KEY = ("action", "position")


def execution_note(mode: str) -> str:
    """One sentence for reports: what the trained policies' legs held under ``mode``."""
    held = {
        "mean": "each leg held its head's expected position P(long) - P(short)",
        "mode": "each leg held its head's most likely direction at full size",
    }
    check_position_mode(mode, "agents")
    return f"Execution (agents.position_mode={mode}): {held[mode]}, sized as documented."


def direction_sign(direction: torch.Tensor) -> torch.Tensor:
    """``{0, 1, 2}`` (long / flat / short) -> ``{+1, 0, -1}`` as integers of the same shape."""
    return 1 - direction


def leg_position(
    probs: torch.Tensor, direction: torch.Tensor, deterministic: bool, mode: str
) -> torch.Tensor:
    """Position ``[*, N]`` in ``[-1, 1]`` a policy executes for its heads' ``probs [*, N, 3]``
    and chosen ``direction [*, N]``: the direction's sign, except in a deterministic pass with
    ``mode == "mean"``, where it is the expected position ``P(long) - P(short)``.

    The mean keeps the policy's confidence (a 40/35/25 head holds 0.15 of a leg, not all of it)
    and has the stochastic policy's expected exposure, so its expected P&L before costs."""
    if deterministic and mode == "mean":
        return probs[..., 0] - probs[..., 2]
    return direction_sign(direction).to(probs.dtype)


def position_of(td: TensorDictBase) -> torch.Tensor:
    """``("action", "position")`` when the policy wrote one, else the sign of its direction."""
    position = td.get(POSITION_KEY, None)
    if position is None:
        return direction_sign(td.get(("action", "direction")))
    return position


def target_weights(
    position: torch.Tensor,  # [B, N] in [-1, 1]: +1 long, 0 flat, -1 short, or in between
    allocation: torch.Tensor,  # [B, S] simplex
    appetite: torch.Tensor,  # [B, 1] in [0, 1]
    vol: torch.Tensor,  # [B, N] daily volatility of each instrument's returns
    specialist_index: torch.Tensor,  # [N] long, specialist of each instrument
    target_vol: float,
    max_weight: float = float("inf"),
) -> torch.Tensor:
    """Target weights ``[B, N]``: inverse-volatility within each specialist (module docstring)."""
    n_specialists = allocation.shape[-1]
    idx = specialist_index.to(device=allocation.device, dtype=torch.long)
    n_per_specialist = torch.bincount(idx, minlength=n_specialists).to(allocation.dtype)  # [S]
    budget = allocation * appetite * (target_vol * n_specialists)  # [B, S]
    budget_i = budget.index_select(-1, idx)  # [B, N]
    share = budget_i / (
        n_per_specialist.index_select(0, idx) * vol.to(allocation.dtype).clamp_min(VOL_FLOOR)
    )
    weights = position.to(allocation.dtype) * share
    return weights.clamp(-max_weight, max_weight)


class SizingModule(TensorDictModuleBase):
    """Parameter-free tensordict module that appends ``target_weights`` to the actor's output.

    Reads ``("action", "position")`` (or, when a policy writes none, the sign of
    ``("action", "direction")``), ``("action", "allocation")``, ``("action", "appetite")`` and
    ``"vol"``; writes ``"target_weights"`` with :func:`target_weights`.
    """

    def __init__(
        self, specialist_index: torch.Tensor, target_vol: float, max_weight: float = float("inf")
    ) -> None:
        super().__init__()
        self.in_keys = [
            ("action", "direction"),
            ("action", "allocation"),
            ("action", "appetite"),
            "vol",
        ]
        self.out_keys = ["target_weights"]
        self.register_buffer("specialist_index", specialist_index.clone().long())
        self.target_vol = float(target_vol)
        self.max_weight = float(max_weight)

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        tensordict.set(
            "target_weights",
            target_weights(
                position_of(tensordict),
                tensordict.get(("action", "allocation")),
                tensordict.get(("action", "appetite")),
                tensordict.get("vol"),
                self.specialist_index,
                self.target_vol,
                self.max_weight,
            ),
        )
        return tensordict
