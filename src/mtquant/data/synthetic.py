"""Seeded synthetic market calibrated to the packaged data, with an optional planted signal.

Model (daily log returns ``r[t, i]`` of close prices, ``t >= 1``; docs/data.md has the details):

    r[t, i] / sigma_i = a * s[t-1, i] + b * m[t] * eps[t, i],    b = sqrt(1 - a^2)

- ``sigma_i``: the instrument's unconditional daily volatility; ``eps[t]``: multivariate Student-t
  (``tail_df``, one chi-square mixing variable per day -> joint tail events) scaled to unit
  variance, with correlation matrix ``C``. ``sigma`` and ``C`` come from the packaged real data
  (``calibrate_to_packaged``) or from :data:`BUILTIN_VOL` / :data:`BUILTIN_CORR`.
- ``m[t]``: a two-state volatility regime (one Markov chain for the whole market; stays with
  probability ``regime_persistence``; the high state's scale is ``high_vol_multiplier`` times
  the low one's), normalised so that ``E[m^2] = 1`` (the symmetric chain spends half its time
  in each state) and ``sigma_i`` stays the unconditional volatility.
- Planted signal (``a = signal_strength``): ``s[t, i] = x[t, i] / u`` where
  ``x[t] = lam * x[t-1] + (1 - lam) * r[t] / sigma`` (``x[0] = 0``) is an exponential moving
  average of the instrument's own past vol-scaled returns (half-life :data:`SIGNAL_HALFLIFE`
  days) and ``u`` its stationary standard deviation. ``s[t]`` is a function of prices up to
  ``t`` only, unit-variance, independent of ``eps[t+1]``, so ``corr(s[t], r[t+1]) = a``: the
  information coefficient. With ``a = 0`` returns are unpredictable.

Close-only output (``has_range`` False): the generator models closes, not intraday ranges.
Every bar quotes a spread that is a constant fraction of its close (``has_spread`` True):
``spread[t, i] = table_spread_i / START_PRICE[i] * close[t, i]``, the instrument table's spread
at the start price, scaled with the price, so costs stay proportional over decades of drift.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from scipy.signal import lfilter

from mtquant.config.data import DataConfig
from mtquant.data.market_data import FIELDS, MarketData, Provenance
from mtquant.data.packaged import load_packaged
from mtquant.errors import DataError

SIGNAL_HALFLIFE = 10.0  # days: half-life of the EMA momentum that carries the planted signal
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "WTIUSD", "SPX500", "NAS100", "US30")
START_PRICE = dict(
    zip(SYMBOLS, (1.1, 1.3, 110.0, 1300.0, 60.0, 2000.0, 5000.0, 17000.0), strict=True)
)
# Built-in calibration: the packaged data 1999-01-04..2018-12-31 (seed 7), rounded.
BUILTIN_VOL = dict(
    zip(SYMBOLS, (0.0063, 0.0059, 0.0063, 0.0101, 0.0240, 0.0120, 0.0158, 0.0120), strict=True)
)
BUILTIN_CORR = np.array(
    [
        [1.00, 0.65, -0.27, 0.39, 0.10, 0.06, 0.02, 0.05],
        [0.65, 1.00, -0.13, 0.29, 0.11, 0.11, 0.08, 0.10],
        [-0.27, -0.13, 1.00, -0.17, 0.03, 0.11, 0.07, 0.10],
        [0.39, 0.29, -0.17, 1.00, 0.03, 0.01, 0.00, 0.01],
        [0.10, 0.11, 0.03, 0.03, 1.00, 0.19, 0.14, 0.19],
        [0.06, 0.11, 0.11, 0.01, 0.19, 1.00, 0.89, 0.94],
        [0.02, 0.08, 0.07, 0.00, 0.14, 0.89, 1.00, 0.84],
        [0.05, 0.10, 0.10, 0.01, 0.19, 0.94, 0.84, 1.00],
    ]
)


@dataclass(frozen=True)
class SyntheticModel:
    """Parameters of the generator for one instrument set (see module docstring)."""

    symbols: tuple[str, ...]
    daily_vol: np.ndarray  # [N] sigma_i
    corr: np.ndarray  # [N, N] correlation of eps
    start_price: np.ndarray  # [N]
    signal_strength: float  # a, the information coefficient
    tail_df: float
    regime_persistence: float
    high_vol_multiplier: float
    calibration: str  # where sigma and C come from

    @property
    def lam(self) -> float:
        """EMA decay of the planted momentum."""
        return float(0.5 ** (1.0 / SIGNAL_HALFLIFE))

    @property
    def signal_scale(self) -> float:
        """``u``: stationary std of the EMA ``x`` (root of ``(1+l)u^2 - 2 l a u - (1-l) = 0``)."""
        lam, a = self.lam, self.signal_strength
        return (lam * a + np.sqrt(lam**2 * a**2 + 1.0 - lam**2)) / (1.0 + lam)


def synthetic_model(symbols: list[str], cfg: DataConfig) -> SyntheticModel:
    """The model for ``symbols`` from ``cfg.synthetic`` (calibrated to packaged data or built-in)."""
    unknown = [s for s in symbols if s not in SYMBOLS]
    if unknown:
        raise DataError(
            f"data.source=synthetic: unknown symbol {unknown[0]}; available: {', '.join(SYMBOLS)}"
        )
    syn = cfg.synthetic
    if syn.calibrate_to_packaged:
        vol_all, corr_all, calibration = _packaged_calibration(cfg.seed)
    else:
        vol_all = np.array([BUILTIN_VOL[s] for s in SYMBOLS])
        corr_all, calibration = BUILTIN_CORR, "built-in table (packaged data 1999-2018, rounded)"
    idx = [SYMBOLS.index(s) for s in symbols]
    return SyntheticModel(
        symbols=tuple(symbols),
        daily_vol=vol_all[idx],
        corr=_nearest_correlation(corr_all[np.ix_(idx, idx)]),
        start_price=np.array([START_PRICE[s] for s in symbols]),
        signal_strength=float(syn.signal_strength),
        tail_df=float(syn.tail_df),
        regime_persistence=float(syn.regime_persistence),
        high_vol_multiplier=float(syn.high_vol_multiplier),
        calibration=calibration,
    )


@functools.lru_cache(maxsize=4)
def _packaged_calibration(seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Daily vols and return correlations of the packaged data (days observed at t-1 and t)."""
    data = load_packaged(DataConfig(source="packaged", seed=seed), list(SYMBOLS))
    close = data.close.numpy()
    mask = data.mask.numpy()
    rets = np.diff(np.log(close), axis=0)
    rets[~(mask[1:] & mask[:-1])] = np.nan
    frame = pd.DataFrame(rets, columns=list(SYMBOLS))
    span = f"{data.dates[0].date()}..{data.dates[-1].date()}"
    return frame.std().to_numpy(), frame.corr().to_numpy(), f"packaged data {span} (seed {seed})"


def _nearest_correlation(corr: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues and rescale to a unit diagonal (a valid correlation matrix)."""
    vals, vecs = np.linalg.eigh((corr + corr.T) / 2.0)
    fixed = (vecs * np.clip(vals, 1e-6, None)) @ vecs.T
    d = np.sqrt(np.diag(fixed))
    return fixed / np.outer(d, d)


def generate(model: SyntheticModel, dates: pd.DatetimeIndex, seed: int) -> np.ndarray:
    """``[T, N]`` close prices on ``dates`` from ``model`` with a seeded numpy Generator."""
    rng = np.random.default_rng(seed)
    t_len, n = len(dates), len(model.symbols)
    nu, h, p = model.tail_df, model.high_vol_multiplier, model.regime_persistence
    # regime: symmetric two-state chain, vectorised as the parity of the number of switches
    switches = np.concatenate([[rng.integers(0, 2)], rng.random(t_len - 1) > p])
    high = np.cumsum(switches) % 2 == 1
    m = np.where(high, h, 1.0) / np.sqrt((1.0 + h**2) / 2.0)  # [T], E[m^2] = 1
    # multivariate Student-t innovations with unit variance and correlation C
    chol = np.linalg.cholesky(model.corr)
    gauss = rng.standard_normal((t_len, n)) @ chol.T
    eps = gauss * np.sqrt((nu - 2.0) / rng.chisquare(nu, size=(t_len, 1)))
    a = model.signal_strength
    b = np.sqrt(1.0 - a**2)
    lam, u = model.lam, model.signal_scale
    shock = b * m[:, None] * eps  # [T, N]
    shock[0] = 0.0  # row 0 is the start price (no return)
    # x[t] = (lam + (1-lam) a / u) x[t-1] + (1-lam) shock[t], x[0] = 0
    x = lfilter([1.0 - lam], [1.0, -(lam + (1.0 - lam) * a / u)], shock, axis=0)
    z = shock.copy()
    z[1:] += a * x[:-1] / u  # r[t]/sigma = a s[t-1] + shock[t]
    log_ret = z * model.daily_vol
    return model.start_price * np.exp(np.cumsum(log_ret, axis=0))


def planted_signal(close: np.ndarray | torch.Tensor, model: SyntheticModel) -> np.ndarray:
    """``[T, N]`` the planted predictor ``s[t]`` computed from closes up to ``t`` (causal).

    ``corr(s[t], log(close[t+1] / close[t])) = signal_strength`` under the synthetic model.
    """
    c = close.numpy() if isinstance(close, torch.Tensor) else np.asarray(close)
    r = np.diff(np.log(c), axis=0, prepend=np.log(c[:1])) / model.daily_vol
    lam = model.lam
    return lfilter([1.0 - lam], [1.0, -lam], r, axis=0) / model.signal_scale


def oracle_positions(close: np.ndarray | torch.Tensor, model: SyntheticModel) -> np.ndarray:
    """``[T, N]`` weights held from close ``t`` to ``t+1`` by the oracle: the diagonal
    mean-variance portfolio on the true conditional mean, ``E[r[t+1]] / sigma^2 = a s[t] / sigma``."""
    return model.signal_strength * planted_signal(close, model) / model.daily_vol


def oracle_sharpe(data: MarketData, model: SyntheticModel) -> float:
    """Annualised Sharpe (252 days, before costs) of trading the oracle on ``data``'s closes.

    Daily P&L ``sum_i w[t, i] * log(close[t+1, i] / close[t, i])``; 0.0 when the oracle never
    holds a position (``signal_strength = 0``).
    """
    close = data.close.numpy()
    w = oracle_positions(close, model)
    pnl = (w[:-1] * np.diff(np.log(close), axis=0)).sum(axis=1)
    sd = float(pnl.std(ddof=1))
    return 0.0 if sd == 0.0 else float(np.sqrt(252.0) * pnl.mean() / sd)


def quoted_spreads(
    close: np.ndarray, model: SyntheticModel, table_spread: Mapping[str, float]
) -> np.ndarray:
    """``[T, N]`` spreads (price units) quoted on ``close``: the instrument table's spread as a
    fraction of the start price, ``table_spread[s] / START_PRICE[s] * close[t, s]``
    (:func:`mtquant.data.loader.table_spreads` builds ``table_spread`` and refuses a symbol the
    instrument table lacks)."""
    fraction = np.array([table_spread[s] for s in model.symbols]) / model.start_price
    return fraction * close


def load_synthetic(
    cfg: DataConfig, symbols: list[str], table_spread: Mapping[str, float]
) -> MarketData:
    """Synthetic :class:`MarketData` (close-only, every day observed) for ``symbols``.

    ``table_spread``: each symbol's spread in the run's instrument table (price units), quoted
    per bar in proportion to the price (:func:`quoted_spreads`).
    """
    model = synthetic_model(symbols, cfg)
    dates = pd.bdate_range(cfg.synthetic.start, periods=cfg.synthetic.n_days)
    close = generate(model, dates, cfg.seed)
    keep = np.ones(len(dates), dtype=bool)
    if cfg.start:
        keep &= dates >= pd.Timestamp(cfg.start)
    if cfg.end:
        keep &= dates <= pd.Timestamp(cfg.end)
    if not keep.any():
        raise DataError(
            f"data.source=synthetic: no generated day between data.start={cfg.start} "
            f"and data.end={cfg.end} (generated {dates[0].date()}..{dates[-1].date()})"
        )
    dates, close = dates[keep], close[keep]
    values = np.zeros((*close.shape, len(FIELDS)))
    values[..., :4] = close[..., None]
    values[..., FIELDS.index("spread")] = quoted_spreads(close, model, table_spread)
    note = (
        f"SYNTHETIC: Student-t(df={model.tail_df}) returns, 2-state vol regime "
        f"(p={model.regime_persistence}, x{model.high_vol_multiplier}), calibrated to "
        f"{model.calibration}; planted IC {model.signal_strength}"
    )
    prov = Provenance(
        "synthetic",
        f"model:synthetic(seed={cfg.seed})",
        note,
        str(dates[0].date()),
        str(dates[-1].date()),
    )
    n = len(symbols)
    return MarketData(
        dates=dates,
        symbols=list(symbols),
        values=torch.from_numpy(values),
        mask=torch.ones(close.shape, dtype=torch.bool),
        has_range=torch.zeros(n, dtype=torch.bool),
        has_volume=torch.zeros(n, dtype=torch.bool),
        has_spread=torch.ones(n, dtype=torch.bool),
        provenance={s: replace(prov) for s in symbols},
    )
