"""Inputs of sizing and risk: USD position returns, EWMA volatility, rolling covariance/correlation.

Conventions (also in ``docs/internals.md``):

* ``returns[t]`` is the USD return of a 1-USD long position from ``close[t-1]`` to ``close[t]``
  (:func:`mtquant.instruments.position_return`); ``returns[0] = 0`` (no previous close).
* ``vol[t]`` is the RiskMetrics EWMA (``lambda = 0.94``) of ``returns[1..t]`` with its start-up
  bias removed, floored at :data:`VOL_FLOOR` (row 0, which has no return, holds the floor).
* ``cov[t]`` is the sample covariance (ddof=1) of ``returns`` over the trailing ``var_window`` rows
  ``t - var_window + 1 .. t``. Before a full window it uses every real return available
  (rows ``1..t``, row 0 is not a return) once there are at least :data:`MIN_COV_ROWS` of them;
  before that it is ``diag(vol**2)`` (no correlation is claimed on too little data).
* ``ewma_cov[t]`` is the RiskMetrics covariance (``lambda = 0.94``, zero mean) of
  ``returns[1..t]`` with its start-up bias removed (the diagonal is ``vol**2`` before the floor);
  row 0 holds ``diag(vol**2)``. The ``ewma`` VaR model reads it.
* ``correlations[t]`` is the upper triangle (row-major, ``i < j``) of ``cov[t]`` scaled to a
  correlation; 0 where ``cov`` is the diagonal fallback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.signal import lfilter

from mtquant.features.rolling import ewma_variance
from mtquant.instruments import position_return
from mtquant.risk_management.var_models import EWMA_LAMBDA, VOL_FLOOR, VarModel, VarTape

if TYPE_CHECKING:
    from mtquant.config.risk import RiskConfig
    from mtquant.features.feature_set import FeatureSet

MIN_COV_ROWS = 20  # fewest returns behind a sample covariance


def position_returns(close: torch.Tensor, usd_base: torch.Tensor) -> torch.Tensor:
    """``[T, N]`` float64 USD position returns; 0 at ``t = 0``."""
    ret = torch.zeros_like(close, dtype=torch.float64)
    ret[1:] = position_return(close[:-1].double(), close[1:].double(), usd_base)
    return ret


def ewma_vol(returns: torch.Tensor) -> torch.Tensor:
    """``[T, N]`` causal daily volatility (EWMA, bias-corrected), floored at :data:`VOL_FLOOR`."""
    var = ewma_variance(returns, EWMA_LAMBDA, start=1)
    vol = torch.sqrt(torch.nan_to_num(var, nan=0.0))
    return vol.clamp_min(VOL_FLOOR)


def rolling_cov(returns: torch.Tensor, vol: torch.Tensor, window: int) -> torch.Tensor:
    """``[T, N, N]`` rolling sample covariance (ddof=1) of ``returns`` (see the module docstring)."""
    r = returns.double()
    t_len, n = r.shape
    r_real = r.clone()
    r_real[0] = 0.0  # row 0 is not a return; it is excluded from every count below
    s1 = torch.cumsum(r_real, dim=0)  # [T, N]
    s2 = torch.cumsum(r_real[:, :, None] * r_real[:, None, :], dim=0)  # [T, N, N]
    t = torch.arange(t_len, device=r.device)
    count = torch.clamp(t, max=window)  # real returns in the window ending at t
    start = t - count  # window covers rows start+1 .. t
    s1_prev = torch.where((start > 0)[:, None], s1[start.clamp_min(0)], torch.zeros_like(s1))
    s2_prev = torch.where((start > 0)[:, None, None], s2[start.clamp_min(0)], torch.zeros_like(s2))
    sum1 = s1 - s1_prev
    sum2 = s2 - s2_prev
    c = count.to(r.dtype).clamp_min(2)[:, None, None]
    cov = (sum2 - sum1[:, :, None] * sum1[:, None, :] / c) / (c - 1)
    diag = torch.diag_embed(vol.double() ** 2)
    enough = (count >= MIN_COV_ROWS)[:, None, None]
    return torch.where(enough, cov, diag).to(torch.float32)


def ewma_cov(returns: torch.Tensor, vol: torch.Tensor) -> torch.Tensor:
    """``[T, N, N]`` causal EWMA covariance of ``returns`` (see the module docstring)."""
    r = returns.double()
    t_len, n = r.shape
    outer = (r[:, :, None] * r[:, None, :]).reshape(t_len, n * n)
    zi = np.zeros((1, n * n))
    y, _ = lfilter([1.0 - EWMA_LAMBDA], [1.0, -EWMA_LAMBDA], outer[1:].cpu().numpy(), axis=0, zi=zi)
    m = torch.arange(1, t_len, dtype=torch.float64)
    out = torch.empty(t_len, n, n, dtype=torch.float64)
    out[0] = torch.diag(vol[0].double() ** 2)
    out[1:] = torch.from_numpy(y).reshape(t_len - 1, n, n) / (1.0 - EWMA_LAMBDA**m)[:, None, None]
    return out.to(torch.float32)


def upper_triangle_corr(cov: torch.Tensor) -> torch.Tensor:
    """``[T, N(N-1)/2]`` correlations from ``[T, N, N]`` covariances, row-major ``i < j``."""
    n = cov.shape[-1]
    sd = torch.sqrt(torch.diagonal(cov, dim1=-2, dim2=-1).clamp_min(1e-20))
    corr = cov / (sd[..., :, None] * sd[..., None, :])
    iu = torch.triu_indices(n, n, offset=1, device=cov.device)
    return corr[..., iu[0], iu[1]].clamp(-1.0, 1.0)


def var_tape(
    features: FeatureSet, risk: RiskConfig, device: torch.device | str = "cpu"
) -> VarTape | None:
    """The enforced VaR model's inputs over ``features`` (``risk.var_method``), on ``device``;
    None for ``parametric``, which reads the observation's ``cov``."""
    if risk.var_method == "parametric":
        return None
    tape = VarTape(
        VarModel(risk.var_method, risk.var_confidence),
        risk.var_window,
        features.returns,
        features.vol,
        features.cov,
        features.ewma_cov,
    )
    tape.check_rows(features.valid_from)
    return tape.to(device)
