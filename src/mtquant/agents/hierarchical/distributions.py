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
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Beta, Dirichlet

CONCENTRATION_FLOOR = 1e-2
ACTION_EPS = 1e-6


def clamp_simplex(allocation: torch.Tensor, eps: float = ACTION_EPS) -> torch.Tensor:
    """Move simplex points away from the faces: clamp to ``[eps, 1]`` and renormalise."""
    clamped = allocation.clamp(min=eps, max=1.0)
    return clamped / clamped.sum(-1, keepdim=True)


@dataclass
class MetaActionDistribution:
    """Joint distribution of ``(allocation [B, S], appetite [B, 1])``; the two are independent."""

    allocation_mean: torch.Tensor  # [B, S] softmax head
    appetite_mean: torch.Tensor  # [B, 1] sigmoid head
    allocation_concentration: torch.Tensor  # scalar kappa, total Dirichlet concentration
    appetite_concentration: torch.Tensor  # scalar kappa_b, Beta alpha + beta

    def __post_init__(self) -> None:
        conc = (self.allocation_mean * self.allocation_concentration).clamp_min(CONCENTRATION_FLOOR)
        self.dirichlet = Dirichlet(conc)
        m = self.appetite_mean.squeeze(-1)
        kb = self.appetite_concentration
        self.beta = Beta(
            (m * kb).clamp_min(CONCENTRATION_FLOOR), ((1.0 - m) * kb).clamp_min(CONCENTRATION_FLOOR)
        )

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
        return self.dirichlet.log_prob(a) + self.beta.log_prob(r)

    def entropy(self) -> torch.Tensor:
        """Differential entropy ``[B]`` of the joint (sum of the two)."""
        return self.dirichlet.entropy() + self.beta.entropy()
