"""Registries: every name the config accepts has an implementation, and the lookup names the key."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from data_fixtures import csv_rows, mt5_rows, write_csv, write_mt5
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from mtquant.agents.training.trainer_factory import LOGGERS, make_logger
from mtquant.artifacts import RunDir
from mtquant.config import compose_config, to_object
from mtquant.config.data import SOURCES
from mtquant.config.logger import LOGGER_KINDS
from mtquant.data.loader import DATA_SOURCES, load_market_data
from mtquant.errors import ConfigError
from mtquant.registry import Registry


def write_source_files(source: str, folder: Path) -> Path:
    """Ten days of EURUSD, GBPUSD and USDJPY in ``source``'s file format."""
    for k, symbol in enumerate(("EURUSD", "GBPUSD", "USDJPY")):
        if source == "mt5_csv":
            write_mt5(folder, symbol, mt5_rows(10, base=1.1 + k))
        else:  # the generic rows' ranges are +-2 price units: prices well above that
            path = write_csv(folder, symbol, csv_rows(10, base=100.0 + k))
            if source == "parquet":
                frame = pd.read_csv(path, parse_dates=["date"])
                frame.to_parquet(folder / f"{symbol}.parquet")
                path.unlink()
    return folder


def test_registry_refuses_implementations_that_do_not_match_the_config_names() -> None:
    with pytest.raises(ConfigError, match=r"do not match the config's names \['a', 'b'\]"):
        Registry.matching("x.kind", ["a", "b"], {"a": 1})
    reg = Registry.matching("x.kind", ["a", "b"], {"b": 2, "a": 1})
    assert reg.names() == ["a", "b"] and reg.get("b") == 2 and "a" in reg and len(reg) == 2
    with pytest.raises(ConfigError, match="config x.kind='c': unknown; known: \\['a', 'b'\\]"):
        reg.get("c")


def test_registries_cover_exactly_the_config_vocabularies() -> None:
    assert DATA_SOURCES.names() == list(SOURCES)
    assert LOGGERS.names() == list(LOGGER_KINDS)


@pytest.mark.parametrize("source", list(SOURCES))
def test_every_data_source_loads_the_active_instruments(source: str, tmp_path: Path) -> None:
    overrides = [f"data={source}", "instruments=forex"]
    if source in ("mt5_csv", "csv", "parquet"):
        overrides += [f"data.path={write_source_files(source, tmp_path)}", "data.start=null",
                      "data.end=null"]  # fmt: skip
    if source == "synthetic":
        overrides += ["data.synthetic.n_days=300", "data.synthetic.calibrate_to_packaged=false"]
    cfg = to_object(compose_config("train", overrides))
    data = load_market_data(cfg)
    assert data.symbols == ["EURUSD", "GBPUSD", "USDJPY"]
    assert len(data.dates) >= 5 and bool(data.close.isfinite().all())


@pytest.mark.parametrize("kind", list(LOGGER_KINDS))
def test_every_logger_kind_builds_its_lightning_logger(kind: str, tmp_path: Path) -> None:
    cfg = to_object(compose_config("train", [f"logger={kind}"]))
    logger = make_logger(cfg, RunDir(tmp_path / "run"), "phase1")
    expected = {"csv": CSVLogger, "wandb": WandbLogger, "none": bool}[kind]
    assert isinstance(logger, expected)
    if kind == "none":
        assert logger is False
