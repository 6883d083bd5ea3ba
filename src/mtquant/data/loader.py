"""``load_market_data(cfg)``: the one public loader every entry point uses.

Reads ``cfg.data`` (source, path, window, fill limit, seed) and loads the instruments of
``cfg.instruments.active_symbols()`` in that order. The source is looked up in
:data:`DATA_SOURCES` (``data.source``): the packaged real data with its labelled proxies, the
seeded synthetic market, or the user's per-symbol files (MetaTrader 5 exports, CSV, Parquet).
Every source validates its input (:mod:`mtquant.data.validation`); files are aligned by
:mod:`mtquant.data.align`. ``data.macro_path`` attaches the user's macro series
(:mod:`mtquant.data.macro_series`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mtquant.config.data import FILE_SOURCES, SOURCES, DataConfig
from mtquant.config.instruments import InstrumentsConfig
from mtquant.data.align import align, to_market_data
from mtquant.data.macro_series import with_macro_series
from mtquant.data.market_data import MarketData
from mtquant.data.packaged import load_packaged
from mtquant.data.proxies import PROXY_PARENTS
from mtquant.data.readers import read_symbol
from mtquant.data.synthetic import SyntheticModel, load_synthetic, synthetic_model
from mtquant.errors import ConfigError, DataError
from mtquant.registry import Registry

# (the run config, its data config, the symbols) -> validated, aligned market data
DataSource = Callable[[Any, DataConfig, list[str]], MarketData]


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


def table_spreads(cfg: Any, symbols: list[str], source: str = "synthetic") -> dict[str, float]:
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
            f"data.source={source}: symbol {missing[0]} has no spread in the instrument table "
            f"(config instruments.symbols); known: {', '.join(sorted(catalogue))}"
        )
    return {s: float(catalogue[s].spread) for s in symbols}


def _packaged(cfg: Any, data_cfg: DataConfig, symbols: list[str]) -> MarketData:
    proxies = [s for s in symbols if s in PROXY_PARENTS]  # they quote the table's spread
    return load_packaged(data_cfg, symbols, table_spreads(cfg, proxies, data_cfg.source))


def _synthetic(cfg: Any, data_cfg: DataConfig, symbols: list[str]) -> MarketData:
    return load_synthetic(data_cfg, symbols, table_spreads(cfg, symbols))


def _files(cfg: Any, data_cfg: DataConfig, symbols: list[str]) -> MarketData:
    """One file per symbol in ``data.path`` (``mt5_csv``, ``csv`` or ``parquet``), aligned."""
    bars = {s: read_symbol(data_cfg.source, str(data_cfg.path), s) for s in symbols}
    aligned = align(bars, data_cfg.start, data_cfg.end, data_cfg.max_ffill_days)
    return to_market_data(aligned, bars)


DATA_SOURCES: Registry[DataSource] = Registry.matching(
    "data.source",
    SOURCES,
    {"packaged": _packaged, "synthetic": _synthetic, **dict.fromkeys(FILE_SOURCES, _files)},
)


def load_market_data(cfg: Any, symbols: list[str] | None = None) -> MarketData:
    """Validated, aligned daily bars of the active instruments from ``cfg.data.source``.

    ``symbols`` overrides the active instruments (same order rules). Raises :class:`DataError`.
    """
    data_cfg, active = resolve(cfg)
    wanted = list(symbols) if symbols is not None else active
    data = DATA_SOURCES.get(data_cfg.source)(cfg, data_cfg, wanted)
    return data if data_cfg.macro_path is None else with_macro_series(data, data_cfg.macro_path)


def model_from_config(cfg: object, symbols: list[str] | None = None) -> SyntheticModel:
    """The :class:`SyntheticModel` that ``load_market_data(cfg)`` uses (for :func:`oracle_sharpe`)."""
    data_cfg, active = resolve(cfg)
    return synthetic_model(list(symbols) if symbols is not None else active, data_cfg)
