"""Z-score normalisation fitted on the training rows only, then applied to every row."""

from __future__ import annotations

import torch

CLIP = 5.0  # |z| cap after normalisation
STD_FLOOR = 1e-12  # a column constant over the training rows normalises to 0


def fit_zscore(x: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (ddof=0) over rows ``[start, stop)`` of ``x [T, ...]``, per trailing index."""
    fit = x[start:stop].double()
    return fit.mean(dim=0), fit.std(dim=0, correction=0)


def apply_zscore(
    x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, raw: torch.Tensor | None = None
) -> torch.Tensor:
    """``clip((x - mean) / std, -5, 5)``; columns flagged in ``raw`` (bool, trailing shape) are
    only clipped. Constant columns (std below the floor) become 0."""
    xd = x.double()
    z = torch.where(std > STD_FLOOR, (xd - mean) / std.clamp_min(STD_FLOOR), torch.zeros_like(xd))
    if raw is not None:
        z = torch.where(raw, xd, z)
    return z.clamp(-CLIP, CLIP)
