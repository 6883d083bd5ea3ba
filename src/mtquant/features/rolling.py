"""Causal rolling-window primitives over the time axis (dim 0) of ``[T, ...]`` tensors.

Every function returns a tensor whose row ``t`` depends on input rows ``<= t`` only. Rows whose
window is not yet full are NaN (the caller decides the warm-up), so a missing lookback can never
be mistaken for a value. Recursive filters (EMA, Wilder smoothing) run through
:func:`scipy.signal.lfilter`, an exact causal IIR filter vectorised over the other axes.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.signal import lfilter

NAN = float("nan")


def lag(x: torch.Tensor, h: int) -> torch.Tensor:
    """``x[t - h]`` at row ``t`` (NaN for ``t < h``)."""
    if h == 0:
        return x
    if h >= x.shape[0]:
        return torch.full_like(x, NAN)
    pad = torch.full((h, *x.shape[1:]), NAN, dtype=x.dtype, device=x.device)
    return torch.cat([pad, x[:-h]], dim=0)


def windows(x: torch.Tensor, w: int) -> torch.Tensor:
    """``[T, ..., w]`` view of the trailing ``w`` rows ending at each ``t`` (NaN-padded start)."""
    pad = torch.full((w - 1, *x.shape[1:]), NAN, dtype=x.dtype, device=x.device)
    return torch.cat([pad, x], dim=0).unfold(0, w, 1)


def rolling_mean(x: torch.Tensor, w: int) -> torch.Tensor:
    return windows(x, w).mean(dim=-1)


def rolling_std(x: torch.Tensor, w: int) -> torch.Tensor:
    """Sample standard deviation (ddof=1) over the trailing ``w`` rows."""
    return windows(x, w).std(dim=-1, correction=1)


def rolling_max(x: torch.Tensor, w: int) -> torch.Tensor:
    return windows(x, w).amax(dim=-1)


def rolling_min(x: torch.Tensor, w: int) -> torch.Tensor:
    return windows(x, w).amin(dim=-1)


def rolling_sum(x: torch.Tensor, w: int) -> torch.Tensor:
    return windows(x, w).sum(dim=-1)


def rolling_skew(x: torch.Tensor, w: int) -> torch.Tensor:
    """Skewness ``m3 / m2^1.5`` (population moments) over ``w`` rows; 0 if flat, NaN if incomplete."""
    win = windows(x, w)
    dev = win - win.mean(dim=-1, keepdim=True)
    m2 = (dev**2).mean(dim=-1)
    m3 = (dev**3).mean(dim=-1)
    return torch.where(
        (m2 > 1e-24) | torch.isnan(m2), m3 / m2.clamp_min(1e-24) ** 1.5, torch.zeros_like(m2)
    )


def rolling_corr(x: torch.Tensor, y: torch.Tensor, w: int) -> torch.Tensor:
    """Pearson correlation of ``x``, ``y`` (``[T, ...]``) over ``w`` rows; 0 if flat, NaN if incomplete."""
    wx, wy = windows(x, w), windows(y, w)
    dx = wx - wx.mean(dim=-1, keepdim=True)
    dy = wy - wy.mean(dim=-1, keepdim=True)
    sxy = (dx * dy).sum(dim=-1)
    sxx, syy = (dx**2).sum(dim=-1), (dy**2).sum(dim=-1)
    den = torch.sqrt(sxx * syy)
    return torch.where(
        (den > 1e-24) | torch.isnan(den), sxy / den.clamp_min(1e-24), torch.zeros_like(sxy)
    ).clamp(-1, 1)


def capped_expanding_mean(x: torch.Tensor, max_w: int, min_w: int) -> torch.Tensor:
    """Mean of the last ``min(t + 1, max_w)`` rows; NaN while fewer than ``min_w`` rows exist.

    For long windows (5 years) where an unfolded view would be large: a float64 cumulative sum,
    whose row ``t`` depends on rows ``<= t`` only.
    """
    csum = torch.cumsum(x.double(), dim=0)
    t = torch.arange(x.shape[0], device=x.device)
    n = torch.clamp(t + 1, max=max_w)
    prev = lag(csum, max_w)
    prev = torch.where(torch.isnan(prev), torch.zeros_like(prev), prev)
    shape = (-1,) + (1,) * (x.dim() - 1)
    mean = (csum - prev) / n.reshape(shape).to(csum.dtype)
    mean = torch.where((t + 1 >= min_w).reshape(shape), mean, torch.full_like(mean, NAN))
    return mean.to(x.dtype)


def _iir(x: torch.Tensor, alpha: float, start: int, y0: torch.Tensor) -> torch.Tensor:
    """``y[start] = y0``, ``y[t] = alpha x[t] + (1 - alpha) y[t-1]`` after; NaN before ``start``."""
    out = torch.full_like(x, NAN)
    if start >= x.shape[0]:
        return out
    out[start] = y0
    rest = x[start + 1 :]
    if rest.shape[0] > 0:
        zi = ((1.0 - alpha) * y0).cpu().numpy()[np.newaxis]
        y, _ = lfilter([alpha], [1.0, -(1.0 - alpha)], rest.cpu().numpy(), axis=0, zi=zi)
        out[start + 1 :] = torch.from_numpy(np.ascontiguousarray(y)).to(out)
    return out


def ema(x: torch.Tensor, span: int, start: int = 0) -> torch.Tensor:
    """Exponential moving average, ``alpha = 2 / (span + 1)``, seeded with ``x[start]``.

    The same recursion as ``pandas.Series.ewm(span=span, adjust=False)`` from row ``start``.
    """
    return _iir(x, 2.0 / (span + 1.0), start, x[start] if start < x.shape[0] else x[:0])


def wilder(x: torch.Tensor, n: int, start: int = 1) -> torch.Tensor:
    """Wilder's smoothing (RSI, ATR): seed = mean of ``x[start : start + n]`` at row
    ``start + n - 1``, then ``y[t] = ((n - 1) y[t-1] + x[t]) / n``; NaN before the seed."""
    seed_row = start + n - 1
    if seed_row >= x.shape[0]:
        return torch.full_like(x, NAN)
    return _iir(x, 1.0 / n, seed_row, x[start : start + n].mean(dim=0))


def ewma_variance(r: torch.Tensor, lam: float, start: int = 1) -> torch.Tensor:
    """Bias-corrected EWMA of ``r**2`` from row ``start``: ``sum (1-lam) lam^(t-k) r_k^2 / (1 - lam^m)``
    over the ``m`` rows ``start..t`` (RiskMetrics with the start-up bias removed); NaN before."""
    sq = r**2
    out = torch.full_like(r, NAN)
    if start >= r.shape[0]:
        return out
    zi = np.zeros((1, *r.shape[1:]))
    y, _ = lfilter([1.0 - lam], [1.0, -lam], sq[start:].cpu().numpy(), axis=0, zi=zi)
    m = torch.arange(1, r.shape[0] - start + 1, dtype=r.dtype, device=r.device)
    shape = (-1,) + (1,) * (r.dim() - 1)
    corr = (1.0 - lam**m).reshape(shape)
    out[start:] = torch.from_numpy(np.ascontiguousarray(y)).to(out) / corr
    return out
