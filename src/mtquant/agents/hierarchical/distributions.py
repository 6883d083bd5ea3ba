"""The meta-controller's action distribution: Dirichlet allocation x Beta risk appetite.

Means equal the plan's heads exactly: the Dirichlet has concentration ``p * kappa`` where ``p``
is the softmax head, so ``E[allocation] = p``; the Beta has ``alpha = m * kappa_b`` and
``beta = (1 - m) * kappa_b`` where ``m`` is the sigmoid head, so ``E[appetite] = m``.

Numerical guards: every concentration is clamped to at least ``CONCENTRATION_FLOOR`` (0.01), so
a head that puts (almost) zero mass on a specialist still gives a proper distribution -- when a
component hits the floor the mean is shifted by at most ``0.01 / kappa``. Actions are clamped
into ``[ACTION_EPS, 1 - ACTION_EPS]`` (the allocation renormalised onto the simplex) before
``log_prob`` so that a sample that underflowed to 0 or 1 gives a finite log-probability.
Sampling uses torch's global RNG (seeded by the trainer).

Speed: the policy calls this once per env step, so ``log_prob`` and ``entropy`` are the closed
forms (:func:`dirichlet_log_prob`, :func:`dirichlet_entropy`: the same operations, in the same
order, as ``torch.distributions.Dirichlet``, with the Beta as the 2-component Dirichlet over
``(x, 1 - x)`` exactly as ``torch.distributions.Beta`` computes it) without argument
validation; the ``torch.distributions`` objects (``.dirichlet``, ``.beta``) are built on first
use (sampling, inspection).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch.distributions import Beta, Dirichlet

CONCENTRATION_FLOOR = 1e-2
ACTION_EPS = 1e-6


def clamp_simplex(allocation: torch.Tensor, eps: float = ACTION_EPS) -> torch.Tensor:
    """Move simplex points away from the faces: clamp to ``[eps, 1]`` and renormalise."""
    clamped = allocation.clamp(min=eps, max=1.0)
    return clamped / clamped.sum(-1, keepdim=True)


def dirichlet_log_prob(concentration: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``Dirichlet(concentration).log_prob(value)`` ``[..]`` (torch's formula, no validation)."""
    return (
        torch.xlogy(concentration - 1.0, value).sum(-1)
        + torch.lgamma(concentration.sum(-1))
        - torch.lgamma(concentration).sum(-1)
    )


def dirichlet_entropy(concentration: torch.Tensor) -> torch.Tensor:
    """``Dirichlet(concentration).entropy()`` ``[..]`` (torch's formula)."""
    k = concentration.size(-1)
    a0 = concentration.sum(-1)
    return (
        torch.lgamma(concentration).sum(-1)
        - torch.lgamma(a0)
        - (k - a0) * torch.digamma(a0)
        - ((concentration - 1.0) * torch.digamma(concentration)).sum(-1)
    )


@dataclass
class MetaActionDistribution:
    """Joint distribution of ``(allocation [B, S], appetite [B, 1])``; the two are independent."""

    allocation_mean: torch.Tensor  # [B, S] softmax head
    appetite_mean: torch.Tensor  # [B, 1] sigmoid head
    allocation_concentration: torch.Tensor  # scalar kappa, total Dirichlet concentration
    appetite_concentration: torch.Tensor  # scalar kappa_b, Beta alpha + beta

    def __post_init__(self) -> None:
        conc = (self.allocation_mean * self.allocation_concentration).clamp_min(CONCENTRATION_FLOOR)
        self.allocation_alpha = conc  # [B, S] Dirichlet concentration
        m = self.appetite_mean.squeeze(-1)
        kb = self.appetite_concentration
        # [B, 2] Beta (alpha, beta) = the 2-component Dirichlet torch's Beta is built on
        self.appetite_alpha_beta = torch.stack(
            [
                (m * kb).clamp_min(CONCENTRATION_FLOOR),
                ((1.0 - m) * kb).clamp_min(CONCENTRATION_FLOOR),
            ],
            -1,
        )

    @cached_property
    def dirichlet(self) -> Dirichlet:
        """The allocation's ``torch.distributions.Dirichlet``."""
        return Dirichlet(self.allocation_alpha, validate_args=False)

    @cached_property
    def beta(self) -> Beta:
        """The appetite's ``torch.distributions.Beta``."""
        ab = self.appetite_alpha_beta
        return Beta(ab[..., 0], ab[..., 1], validate_args=False)

    @property
    def mean(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The deterministic (evaluation) action: the heads themselves."""
        return self.allocation_mean, self.appetite_mean

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One draw ``(allocation [B, S], appetite [B, 1])`` from the global RNG, no gradient."""
        with torch.no_grad():
            allocation = clamp_simplex(self.dirichlet.sample())
            appetite = self.beta.sample().clamp(ACTION_EPS, 1.0 - ACTION_EPS).unsqueeze(-1)
        return allocation, appetite

    def log_prob(self, allocation: torch.Tensor, appetite: torch.Tensor) -> torch.Tensor:
        """Joint log-density ``[B]`` of stored actions (clamped away from the boundary first)."""
        a = clamp_simplex(allocation)
        r = appetite.squeeze(-1).clamp(ACTION_EPS, 1.0 - ACTION_EPS)
        heads_tails = torch.stack([r, 1.0 - r], -1)
        return dirichlet_log_prob(self.allocation_alpha, a) + dirichlet_log_prob(
            self.appetite_alpha_beta, heads_tails
        )

    def entropy(self) -> torch.Tensor:
        """Differential entropy ``[B]`` of the joint (sum of the two)."""
        return dirichlet_entropy(self.allocation_alpha) + dirichlet_entropy(
            self.appetite_alpha_beta
        )
