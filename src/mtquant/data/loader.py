"""``load_market_data(cfg)``: the one public loader every entry point uses.

Reads ``cfg.data`` (source, path, window, fill limit, seed) and loads the instruments of
``cfg.instruments.active_symbols()`` in that order. Every source validates its input (see
:mod:`mtquant.data.validation`) and is aligned by :mod:`mtquant.data.align`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from mtquant.config.data import DataConfig
from mtquant.config.instruments import InstrumentsConfig
from mtquant.data.align import Aligned, align
from mtquant.data.bars import Bars
from mtquant.data.market_data import FIELDS, MarketData, Provenance
from mtquant.data.packaged import REAL_SYMBOLS, packaged_real
from mtquant.data.proxies import PROXY_PARENTS, gold_proxy, us30_proxy
from mtquant.data.readers import read_symbol
from mtquant.errors import ConfigError, DataError

PACKAGED_SYMBOLS = (*REAL_SYMBOLS, *PROXY_PARENTS)
PROXY_STREAM = {"US30": 1, "XAUUSD": 2}  # independent seeded streams per proxy


def resolve(cfg: Any) -> tuple[DataConfig, list[str]]:
    """``(DataConfig, active symbols)`` from a RunConfig or a composed DictConfig."""
    data, instruments = cfg.data, cfg.instruments
    if isinstance(data, DictConfig):
        data = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DataConfig), data))
    if not isinstance(data, DataConfig):
        raise ConfigError(f"config data: expected a DataConfig, got {type(data).__name__}")
    data.validate()
    if isinstance(instruments, DictConfig):
        symbols = [s for name in instruments.active for s in instruments.specialists[name]]
    else:
        symbols = instruments.active_symbols()
    return data, [str(s) for s in symbols]


def table_spreads(cfg: Any, symbols: list[str]) -> dict[str, float]:
    """``symbol -> spread`` (price units) of the run's instrument table ``cfg.instruments.symbols``
    (a RunConfig or a composed DictConfig); a symbol the table lacks is a :class:`DataError`."""
    instruments = cfg.instruments
    if isinstance(instruments, DictConfig):
        schema = OmegaConf.structured(InstrumentsConfig)
        instruments = OmegaConf.to_object(OmegaConf.merge(schema, instruments))
    catalogue = instruments.symbols
    missing = [s for s in symbols if s not in catalogue]
    if missing:
        raise DataError(
            f"data.source=synthetic: symbol {missing[0]} has no spread in the instrument table "
            f"(config instruments.symbols); known: {', '.join(sorted(catalogue))}"
        )
    return {s: float(catalogue[s].spread) for s in symbols}


def load_market_data(cfg: Any, symbols: list[str] | None = None) -> MarketData:
    """Validated, aligned daily bars of the active instruments from ``cfg.data.source``.

    ``symbols`` overrides the active instruments (same order rules). Raises :class:`DataError`.
    """
    data_cfg, active = resolve(cfg)
    wanted = list(symbols) if symbols is not None else active
    if data_cfg.source == "synthetic":
        from mtquant.data.synthetic import load_synthetic

        return load_synthetic(data_cfg, wanted, table_spreads(cfg, wanted))
    if data_cfg.source == "packaged":
        return load_packaged(data_cfg, wanted)
    bars = {s: read_symbol(data_cfg.source, str(data_cfg.path), s) for s in wanted}
    aligned = align(bars, data_cfg.start, data_cfg.end, data_cfg.max_ffill_days)
    return to_market_data(aligned, bars)


def load_packaged(data_cfg: DataConfig, symbols: list[str]) -> MarketData:
    """Real packaged series plus the labelled proxies (US30, XAUUSD) for ``symbols``."""
    unknown = [s for s in symbols if s not in PACKAGED_SYMBOLS]
    if unknown:
        raise DataError(
            f"data.source=packaged: unknown symbol {unknown[0]}; "
            f"available: {', '.join(PACKAGED_SYMBOLS)}"
        )
    key = (tuple(symbols), data_cfg.start, data_cfg.end, data_cfg.max_ffill_days, data_cfg.seed)
    return _copy(_packaged_cached(*key))


@functools.lru_cache(maxsize=8)
def _packaged_cached(
    symbols: tuple[str, ...], start: str | None, end: str | None, max_ffill: int, seed: int
) -> MarketData:
    proxies = [s for s in symbols if s in PROXY_PARENTS]
    real = list(
        dict.fromkeys(
            [s for s in symbols if s not in PROXY_PARENTS]
            + [p for s in proxies for p in PROXY_PARENTS[s]]
        )
    )
    bars = {s: packaged_real(s) for s in real}
    aligned = align(bars, start, end, max_ffill)
    base = to_market_data(aligned, bars)
    return add_proxies(base, proxies, seed).select(list(symbols))


def add_proxies(base: MarketData, proxies: list[str], seed: int) -> MarketData:
    """Append the seeded proxies (close-only) built on the aligned real data."""
    if not proxies:
        return base
    close = base.close.numpy()
    mask = base.mask.numpy()
    idx = {s: k for k, s in enumerate(base.symbols)}
    cols, masks, prov = [], [], dict(base.provenance)
    for sym in proxies:
        rng = np.random.default_rng([seed, PROXY_STREAM[sym]])
        if sym == "US30":
            c, m, p = us30_proxy(close[:, idx["SPX500"]], mask[:, idx["SPX500"]], base.dates, rng)
        else:
            fx = {s: close[:, idx[s]] for s in PROXY_PARENTS["XAUUSD"]}
            c, m, p = gold_proxy(fx, base.dates, rng)
        cols.append(c)
        masks.append(m)
        prov[sym] = _dated(p, base.dates)
    extra = _close_only(np.stack(cols, axis=1))
    n_extra = len(proxies)
    return MarketData(
        dates=base.dates,
        symbols=[*base.symbols, *proxies],
        values=torch.cat([base.values, torch.from_numpy(extra)], dim=1),
        mask=torch.cat([base.mask, torch.from_numpy(np.stack(masks, axis=1))], dim=1),
        has_range=torch.cat([base.has_range, torch.zeros(n_extra, dtype=torch.bool)]),
        has_volume=torch.cat([base.has_volume, torch.zeros(n_extra, dtype=torch.bool)]),
        has_spread=torch.cat([base.has_spread, torch.zeros(n_extra, dtype=torch.bool)]),
        provenance=prov,
        gaps=list(base.gaps),
    )


def _close_only(close: np.ndarray) -> np.ndarray:
    """``[T, N]`` closes -> ``[T, N, F]`` flat bars (open = high = low = close, no volume/spread)."""
    values = np.zeros((*close.shape, len(FIELDS)))
    values[..., :4] = close[..., None]
    return values


def _dated(p: Provenance, dates: pd.DatetimeIndex) -> Provenance:
    return Provenance(p.kind, p.source, p.note, str(dates[0].date()), str(dates[-1].date()))


def to_market_data(aligned: Aligned, bars: dict[str, Bars]) -> MarketData:
    """Wrap aligned arrays as :class:`MarketData` (provenance dated with the kept range)."""
    symbols = list(bars)

    def flags(name: str) -> torch.Tensor:
        return torch.tensor([getattr(bars[s], name) for s in symbols], dtype=torch.bool)

    return MarketData(
        dates=aligned.dates,
        symbols=symbols,
        values=torch.from_numpy(np.ascontiguousarray(aligned.values)),
        mask=torch.from_numpy(np.ascontiguousarray(aligned.mask)),
        has_range=flags("has_range"),
        has_volume=flags("has_volume"),
        has_spread=flags("has_spread"),
        provenance={s: _dated(bars[s].provenance, aligned.dates) for s in symbols},
        gaps=list(aligned.gaps),
    )


def _copy(data: MarketData) -> MarketData:
    """A copy a caller may mutate without touching the cache."""
    return MarketData(
        dates=data.dates,
        symbols=list(data.symbols),
        values=data.values.clone(),
        mask=data.mask.clone(),
        has_range=data.has_range.clone(),
        has_volume=data.has_volume.clone(),
        has_spread=data.has_spread.clone(),
        provenance=dict(data.provenance),
        gaps=list(data.gaps),
    )
