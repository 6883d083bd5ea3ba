"""A seeded random-walk ``FeatureSet`` for tests and kernel benchmarks.

Not market features: prices are geometric random walks and the observation / domain-feature
tensors are seeded Gaussian noise, so the environment, broker and benchmarks can be exercised
without the feature pipeline. Training and evaluation use :func:`mtquant.features.compute_features`.
"""

from __future__ import annotations

import pandas as pd
import torch

from mtquant.features.domain import DOMAIN_FEATURES
from mtquant.features.feature_set import FeatureSet
from mtquant.features.layout import MACRO_DIM, OBS_MARKET_DIM, OBSERVATION_DIM
from mtquant.features.risk_inputs import ewma_cov
from mtquant.instruments import InstrumentUniverse, position_return

TYPICAL_PRICE = {
    "EURUSD": 1.1, "GBPUSD": 1.3, "USDJPY": 110.0, "XAUUSD": 1800.0, "WTIUSD": 70.0,
    "SPX500": 4000.0, "NAS100": 12000.0, "US30": 33000.0,
}  # fmt: skip
DOMAIN_DIMS = {kind: len(names) for kind, (names, _) in DOMAIN_FEATURES.items()}


def random_walk_features(
    universe: InstrumentUniverse,
    n_days: int = 400,
    seed: int = 0,
    daily_vol: float = 0.01,
    window: int = 100,  # the default risk.var_window: every VaR model has its window
    close_only: bool = False,
    start: str = "2020-01-01",
    spread_fraction: float | None = None,
) -> FeatureSet:
    """Business-day random walks for the universe's instruments and matching feature tensors.

    ``fill_price`` is an open that gaps from the previous close (``close_only=True``: the close).
    ``vol`` / ``cov`` are rolling statistics of the USD returns over ``window`` rows (causal);
    ``valid_from = window``. ``spread_fraction`` None: no per-bar spread is quoted (``has_spread``
    False, fills pay the instrument table's spread); else every bar quotes
    ``spread = spread_fraction * close`` (``has_spread`` True).
    """
    g = torch.Generator().manual_seed(seed)
    n, t = universe.n, n_days
    usd_base = universe.terms()["usd_base"]
    p0 = torch.tensor([TYPICAL_PRICE.get(s, 100.0) for s in universe.symbols], dtype=torch.float64)
    log_ret = daily_vol * torch.randn(t, n, generator=g, dtype=torch.float64)
    log_ret[0] = 0.0
    close = p0 * torch.exp(torch.cumsum(log_ret, dim=0))
    gap = 0.3 * daily_vol * torch.randn(t, n, generator=g, dtype=torch.float64)
    prev = torch.cat([close[:1], close[:-1]])
    fill = close.clone() if close_only else prev * torch.exp(gap)
    returns = torch.zeros(t, n, dtype=torch.float64)
    returns[1:] = position_return(close[:-1], close[1:], usd_base)

    window = min(window, t)  # a short history: one window over all of it
    windows = returns.unfold(0, window, 1)  # [T-window+1, N, window]
    centred = windows - windows.mean(-1, keepdim=True)
    cov_w = centred @ centred.transpose(1, 2) / (window - 1)
    cov = torch.zeros(t, n, n, dtype=torch.float64)
    cov[window - 1 :] = cov_w
    cov[: window - 1] = cov_w[0]
    vol = torch.diagonal(cov, dim1=1, dim2=2).sqrt()
    std = vol.clamp_min(1e-12)
    corr = cov / (std[:, :, None] * std[:, None, :])
    iu = torch.triu_indices(n, n, offset=1)
    spread = torch.zeros_like(close) if spread_fraction is None else spread_fraction * close

    obs = torch.zeros(t, n, OBSERVATION_DIM)
    obs[..., :OBS_MARKET_DIM] = torch.randn(t, n, OBS_MARKET_DIM, generator=g)
    market = {s: torch.randn(t, DOMAIN_DIMS.get(s, 4), generator=g) for s in universe.specialists}
    return FeatureSet(
        dates=pd.bdate_range(start, periods=t),
        symbols=universe.symbols,
        specialists=list(universe.specialists),
        obs=obs,
        obs_names=[f"noise_{k}" for k in range(OBS_MARKET_DIM)],
        market=market,
        market_names={s: [f"{s}_{k}" for k in range(m.shape[1])] for s, m in market.items()},
        correlations=corr[:, iu[0], iu[1]].float(),
        macro=torch.randn(t, MACRO_DIM, generator=g),
        macro_names=[f"macro_{k}" for k in range(MACRO_DIM)],
        returns=returns,
        vol=vol.float(),
        cov=cov.float(),
        ewma_cov=ewma_cov(returns, vol),
        close=close,
        fill_price=fill,
        spread=spread,
        has_spread=torch.full((n,), spread_fraction is not None),
        tradable=torch.ones(t, n, dtype=torch.bool),  # a bar every day
        correlation_regime=torch.zeros(t, dtype=torch.long),  # no regime change
        valid_from=window,
        norm_fitted_until=t,
    )
