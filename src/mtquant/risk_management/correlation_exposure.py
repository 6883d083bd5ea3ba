"""Position-weighted correlation exposure of a book: the plan's "max weighted correlation,
weighted by position sizes".

Conventions:

- ``weights`` ``[..., N]`` are signed notional / equity (long > 0); a leg is *held* when
  ``|w_i| > HELD_EPS`` (1e-12, the risk core's threshold), smaller weights count as flat.
- ``corr`` ``[..., N, N]`` is a correlation matrix (broadcast against the weights' batch dims);
  its diagonal is never read. :func:`correlation_from_covariance` turns a covariance into one
  (a zero-variance leg gets correlation 0 with every other leg).
- The *effective* correlation of held legs i, j is ``sign(w_i) sign(w_j) rho_ij``: two longs of
  +0.8 stack risk (+0.8), a long and a short of +0.8 hedge (-0.8).

:func:`weighted_correlation_exposure` is the size-weighted mean of the effective correlations
of the held pairs,

    sum_{i<j} |w_i||w_j| sign(w_i) sign(w_j) rho_ij / sum_{i<j} |w_i||w_j|
  = sum_{i<j} w_i w_j rho_ij / sum_{i<j} |w_i||w_j|,

in [-1, 1], and 0 when fewer than two legs are held (no pair, no concentration). Unlike the
risk core's "largest pairwise" exposure (:func:`~mtquant.risk_management.limits.
correlation_exposure`, which the transform enforces), a tiny leg barely moves it, so it measures
how much of the book's size sits in co-moving pairs. Both numpy arrays and torch tensors are
accepted (same array type out), so the risk core can enforce it later on ``[B, N]`` books.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import torch
from numpy.typing import NDArray

from mtquant.errors import DataError
from mtquant.risk_management.limits_core import HELD_EPS

__all__ = ["HELD_EPS", "correlation_from_covariance", "weighted_correlation_exposure"]


def _check_shapes(w_shape: tuple[int, ...], c_shape: tuple[int, ...]) -> None:
    n = w_shape[-1] if w_shape else -1
    if len(w_shape) < 1 or len(c_shape) < 2 or c_shape[-2:] != (n, n):
        raise DataError(
            f"weighted_correlation_exposure: weights [..., N] and corr [..., N, N] expected, "
            f"got {w_shape} and {c_shape}"
        )


@overload
def weighted_correlation_exposure(weights: torch.Tensor, corr: torch.Tensor) -> torch.Tensor: ...


@overload
def weighted_correlation_exposure(
    weights: NDArray[np.floating], corr: NDArray[np.floating]
) -> NDArray[np.float64]: ...


def weighted_correlation_exposure(
    weights: torch.Tensor | NDArray[np.floating], corr: torch.Tensor | NDArray[np.floating]
) -> torch.Tensor | NDArray[np.float64]:
    """Size-weighted mean effective correlation of the held pairs ``[...]`` (module doc).

    Examples: legs (1, 1) long/long with rho 0.8 -> 0.8; (1, -1) -> -0.8; one held leg -> 0.
    """
    if isinstance(weights, torch.Tensor) and isinstance(corr, torch.Tensor):
        _check_shapes(tuple(weights.shape), tuple(corr.shape))
        w = weights * (weights.abs() > HELD_EPS).to(weights.dtype)
        n = w.shape[-1]
        upper = torch.ones(n, n, dtype=torch.bool, device=w.device).triu(1)  # pairs i < j
        outer = w.unsqueeze(-1) * w.unsqueeze(-2)  # [..., N, N] w_i w_j
        rho = corr.to(w.dtype)
        zero = outer.new_zeros(())
        num = torch.where(upper, outer * rho, zero).sum((-2, -1))
        den = torch.where(upper, outer.abs(), zero).sum((-2, -1))
        return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), zero)
    if isinstance(weights, torch.Tensor) or isinstance(corr, torch.Tensor):
        raise DataError("weighted_correlation_exposure: weights and corr must be the same type")
    wn = np.asarray(weights, dtype=np.float64)
    cn = np.asarray(corr, dtype=np.float64)
    _check_shapes(wn.shape, cn.shape)
    wn = np.where(np.abs(wn) > HELD_EPS, wn, 0.0)
    upper_n = np.triu(np.ones((wn.shape[-1],) * 2, dtype=bool), 1)
    outer_n = wn[..., :, None] * wn[..., None, :]
    num_n = np.where(upper_n, outer_n * cn, 0.0).sum((-2, -1))
    den_n = np.where(upper_n, np.abs(outer_n), 0.0).sum((-2, -1))
    out: NDArray[np.float64] = np.where(den_n > 0, num_n / np.where(den_n > 0, den_n, 1.0), 0.0)
    return out


def correlation_from_covariance(cov: NDArray[np.floating]) -> NDArray[np.float64]:
    """Correlation ``[..., N, N]`` of a covariance ``[..., N, N]``; zero-variance legs get 0
    off the diagonal and 0 on it (they carry no co-movement), other diagonal entries are 1."""
    c = np.asarray(cov, dtype=np.float64)
    if c.ndim < 2 or c.shape[-1] != c.shape[-2]:
        raise DataError(f"correlation_from_covariance: expected [..., N, N], got {c.shape}")
    var = np.diagonal(c, axis1=-2, axis2=-1)
    sd = np.sqrt(np.clip(var, 0.0, None))
    inv = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 0.0)
    out: NDArray[np.float64] = np.clip(c * inv[..., :, None] * inv[..., None, :], -1.0, 1.0)
    return out
