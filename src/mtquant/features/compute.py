"""``compute_features``: every causal feature of a dataset, once, as tensors (an env step indexes)."""

from __future__ import annotations

import functools
from dataclasses import replace

import torch

from mtquant.config import compose_config, to_object
from mtquant.config.instruments import InstrumentsConfig
from mtquant.data.market_data import MarketData
from mtquant.errors import ConfigError, DataError
from mtquant.features.domain import DOMAIN_FEATURES, DOMAIN_LOOKBACK, DOMAIN_RAW, domain_notes
from mtquant.features.feature_set import FeatureSet
from mtquant.features.instrument_obs import (
    OBS_LOOKBACK,
    OBS_NAMES,
    RAW_FEATURES,
    instrument_features,
)
from mtquant.features.layout import OBS_MARKET_DIM, OBSERVATION_DIM
from mtquant.features.macro import MACRO_NAMES, macro_features
from mtquant.features.normalise import apply_zscore, fit_zscore
from mtquant.features.risk_inputs import (
    ewma_cov,
    ewma_vol,
    position_returns,
    rolling_cov,
    upper_triangle_corr,
)
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.correlation_tracker import correlation_regime

VALID_FROM = max(OBS_LOOKBACK, DOMAIN_LOOKBACK)  # longest lookback of any feature, rows
MIN_FIT_ROWS = 20  # fewest training rows behind the normalisation statistics
DEFAULT_TRAIN_FRACTION = 0.7
PRICE_FIELDS = ("open", "high", "low", "close")


@functools.lru_cache(maxsize=1)
def _default_instruments() -> InstrumentsConfig:
    """``instruments`` of the default ``train`` config (composed once per process; read-only)."""
    return to_object(compose_config("train")).instruments


def default_universe(symbols: list[str]) -> InstrumentUniverse:
    """The default config's specialist grouping restricted to ``symbols`` (config order)."""
    cfg = _default_instruments()
    known = {s for syms in cfg.specialists.values() for s in syms}
    unknown = [s for s in symbols if s not in known]
    if unknown:
        raise DataError(
            f"market data: symbols {unknown} belong to no specialist of the default config "
            f"(conf/instruments); known: {sorted(known)}"
        )
    groups = {name: [s for s in syms if s in symbols] for name, syms in cfg.specialists.items()}
    groups = {name: syms for name, syms in groups.items() if syms}
    sub = InstrumentsConfig(active=list(groups), specialists=groups, symbols=dict(cfg.symbols))
    return InstrumentUniverse.from_config(sub)


def _domain_kind(universe: InstrumentUniverse, specialist: str) -> str:
    """Key of :data:`DOMAIN_FEATURES` for a specialist: its name, else its instruments' sector."""
    if specialist in DOMAIN_FEATURES:
        return specialist
    sectors = {i.sector for i in universe.instruments if i.specialist == specialist}
    if len(sectors) == 1 and next(iter(sectors)) in DOMAIN_FEATURES:
        return next(iter(sectors))
    raise ConfigError(
        f"config instruments.specialists.{specialist}: no domain features for a specialist of "
        f"sectors {sorted(sectors)}; known: {sorted(DOMAIN_FEATURES)}"
    )


def _check_prices(data: MarketData) -> None:
    for f in PRICE_FIELDS:
        x = data.field(f)
        bad = ~torch.isfinite(x) | (x <= 0)
        if bool(bad.any()):
            t, n = (int(i) for i in torch.nonzero(bad)[0])
            raise DataError(
                f"market data: symbol {data.symbols[n]}, date {data.dates[t].date()}, "
                f"column {f}: value {float(x[t, n])} is not a positive finite price"
            )


def _quoted_spread(data: MarketData) -> tuple[torch.Tensor, torch.Tensor]:
    """``(spread [T, N] float64, has_spread [N] bool)``: the per-bar quoted spread (price units),
    0 for instruments whose data quotes none; a quoted spread must be finite and >= 0."""
    has = data.has_spread.to(torch.bool)
    raw = data.field("spread").double()
    bad = has[None, :] & ~(torch.isfinite(raw) & (raw >= 0))
    if bool(bad.any()):
        t, n = (int(i) for i in torch.nonzero(bad)[0])
        raise DataError(
            f"market data: symbol {data.symbols[n]}, date {data.dates[t].date()}, "
            f"column spread: value {float(raw[t, n])} is not a finite spread >= 0"
        )
    return torch.where(has[None, :], raw, torch.zeros_like(raw)), has.clone()


def _check_finite(
    x: torch.Tensor, data: MarketData, names: list[str], what: str, start: int
) -> None:
    """Rows ``>= start`` of ``x [T, (N,) F]`` must be finite; else name the first culprit."""
    bad = ~torch.isfinite(x[start:])
    if bool(bad.any()):
        idx = [int(i) for i in torch.nonzero(bad)[0]]
        t = idx[0] + start
        sym = f"symbol {data.symbols[idx[1]]}, " if x.dim() == 3 else ""
        raise DataError(
            f"{what}: {sym}date {data.dates[t].date()}, feature {names[idx[-1]]}: value "
            f"{float(x[(t, *idx[1:])])} is not finite after the warm-up (row {t} >= {start})"
        )


def _normalise(
    x: torch.Tensor, valid_from: int, train_end: int, raw: torch.Tensor | None = None
) -> torch.Tensor:
    mean, std = fit_zscore(x, valid_from, train_end)
    z = apply_zscore(x, mean, std, raw)
    z[:valid_from] = 0.0
    return z.to(torch.float32)


def compute_features(
    data: MarketData,
    universe: InstrumentUniverse | None = None,
    train_end: int | None = None,
    var_window: int = 100,
    regime_rule: tuple[int, float, float] = (100, 1.3, 0.7),
) -> FeatureSet:
    """Every causal feature of ``data`` (see :class:`FeatureSet` and ``docs/internals.md``).

    ``universe`` fixes the instrument order and the specialists (None: the default config's
    grouping of ``data.symbols``). Normalisation statistics use rows ``[valid_from, train_end)``
    (``train_end`` None: the first 70 % of rows) and apply to every row; rows before
    ``valid_from`` (the longest lookback) are 0 in the normalised tensors. ``regime_rule`` is
    ``(risk.correlation_window, risk.spike_ratio, risk.breakdown_ratio)`` of the correlation
    regime series. Computed on the CPU.
    """
    universe = universe if universe is not None else default_universe(list(data.symbols))
    missing = [s for s in universe.symbols if s not in data.symbols]
    if missing:
        raise DataError(
            f"market data: instruments {missing} of the universe are not in the data "
            f"(has {list(data.symbols)})"
        )
    if list(data.symbols) != universe.symbols:
        data = data.select(universe.symbols)
    if data.values.device.type != "cpu":
        data = replace(
            data,
            values=data.values.cpu(),
            mask=data.mask.cpu(),
            has_range=data.has_range.cpu(),
            has_volume=data.has_volume.cpu(),
            has_spread=data.has_spread.cpu(),
            macro=None if data.macro is None else data.macro.cpu(),
        )
    _check_prices(data)
    t_len = data.n_days
    train_end = int(DEFAULT_TRAIN_FRACTION * t_len) if train_end is None else int(train_end)
    if not (VALID_FROM + MIN_FIT_ROWS <= train_end <= t_len):
        raise DataError(
            f"market data: {t_len} rows ({data.dates[0].date()} .. {data.dates[-1].date()}); "
            f"features need {VALID_FROM} warm-up rows and {MIN_FIT_ROWS} training rows for the "
            f"normalisation, so train_end must be in [{VALID_FROM + MIN_FIT_ROWS}, {t_len}], "
            f"got {train_end}"
        )

    usd_base = universe.terms()["usd_base"]
    close = data.close.double()
    returns = position_returns(close, usd_base)
    vol = ewma_vol(returns)
    cov = rolling_cov(returns, vol, var_window)

    obs_raw = instrument_features(data, vol)
    _check_finite(obs_raw, data, OBS_NAMES, "instrument features", VALID_FROM)
    raw_mask = torch.tensor([name in RAW_FEATURES for name in OBS_NAMES])
    obs = torch.zeros(t_len, universe.n, OBSERVATION_DIM, dtype=torch.float32)
    obs[..., :OBS_MARKET_DIM] = _normalise(obs_raw, VALID_FROM, train_end, raw_mask)

    market: dict[str, torch.Tensor] = {}
    market_names: dict[str, list[str]] = {}
    for spec in universe.specialists:  # a handful of specialists, each with its own features
        names, fn = DOMAIN_FEATURES[_domain_kind(universe, spec)]
        raw = fn(data)
        _check_finite(raw, data, names, f"{spec} domain features", VALID_FROM)
        keep = torch.tensor([name in DOMAIN_RAW for name in names])
        market[spec] = _normalise(raw, VALID_FROM, train_end, keep)
        market_names[spec] = list(names)

    macro_raw = macro_features(data)
    _check_finite(macro_raw, data, MACRO_NAMES, "macro features", VALID_FROM)
    spread, has_spread = _quoted_spread(data)

    return FeatureSet(
        dates=data.dates,
        symbols=list(universe.symbols),
        specialists=list(universe.specialists),
        obs=obs,
        obs_names=list(OBS_NAMES),
        market=market,
        market_names=market_names,
        correlations=upper_triangle_corr(cov).to(torch.float32),
        macro=_normalise(macro_raw, VALID_FROM, train_end),
        macro_names=list(MACRO_NAMES),
        returns=returns,
        vol=vol.to(torch.float32),
        cov=cov,
        ewma_cov=ewma_cov(returns, vol),
        close=close,
        fill_price=torch.where(data.has_range.to(torch.bool)[None, :], data.open.double(), close),
        spread=spread,
        has_spread=has_spread,
        tradable=data.mask.to(torch.bool).clone(),
        correlation_regime=correlation_regime(returns, *regime_rule),
        valid_from=VALID_FROM,
        norm_fitted_until=train_end,
        notes=domain_notes(data),
    )
