"""Builders of small data files and configs for the data tests (no network, written to tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mtquant.config.data import DataConfig, SplitConfig, SyntheticConfig, WalkForwardConfig
from mtquant.config.instruments import InstrumentsConfig, InstrumentSpec
from mtquant.config.store import RunConfig

MT5_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"


def mt5_rows(n: int = 5, start: str = "2020-01-02", base: float = 1.1) -> list[str]:
    """``n`` consistent daily MT5 rows (5-digit prices, spread 12 points)."""
    rows = []
    for k, day in enumerate(pd.bdate_range(start, periods=n)):
        o = base + 0.001 * k
        rows.append(
            f"{day:%Y.%m.%d}\t00:00:00\t{o:.5f}\t{o + 0.0050:.5f}\t{o - 0.0050:.5f}\t"
            f"{o + 0.0010:.5f}\t{1000 + k}\t0\t12"
        )
    return rows


def write_mt5(folder: Path, symbol: str, rows: list[str], header: str = MT5_HEADER) -> Path:
    path = folder / f"{symbol}.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def csv_rows(n: int = 5, start: str = "2020-01-02", base: float = 100.0) -> list[str]:
    """``n`` consistent generic CSV rows ``date,open,high,low,close,volume,spread``."""
    rows = []
    for k, day in enumerate(pd.bdate_range(start, periods=n)):
        o = base + k
        rows.append(f"{day:%Y-%m-%d},{o},{o + 2},{o - 2},{o + 1},{500 + k},0.5")
    return rows


def write_csv(
    folder: Path,
    symbol: str,
    rows: list[str],
    header: str = "date,open,high,low,close,volume,spread",
) -> Path:
    path = folder / f"{symbol}.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def run_config(
    source: str = "packaged",
    symbols: dict[str, list[str]] | None = None,
    path: str | None = None,
    start: str | None = "1999-01-04",
    end: str | None = "2018-12-31",
    max_ffill_days: int = 3,
    seed: int = 7,
    synthetic: SyntheticConfig | None = None,
) -> RunConfig:
    """A RunConfig whose instruments are ``symbols`` (specialist -> symbols) and data as given."""
    groups = symbols or {
        "forex": ["EURUSD", "GBPUSD", "USDJPY"],
        "commodities": ["XAUUSD", "WTIUSD"],
        "equity": ["SPX500", "NAS100", "US30"],
    }
    specs = {s: InstrumentSpec() for syms in groups.values() for s in syms}
    return RunConfig(
        instruments=InstrumentsConfig(active=list(groups), specialists=groups, symbols=specs),
        data=DataConfig(
            source=source,
            path=path,
            start=start,
            end=end,
            max_ffill_days=max_ffill_days,
            seed=seed,
            synthetic=synthetic or SyntheticConfig(),
            split=SplitConfig(),
            walk_forward=WalkForwardConfig(),
        ),
    )
