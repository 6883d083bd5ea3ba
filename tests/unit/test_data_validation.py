"""Malformed user files stop with one line naming the file, row, column and value."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from data_fixtures import MT5_HEADER, csv_rows, mt5_rows, run_config, write_csv, write_mt5

from mtquant.data import load_market_data
from mtquant.errors import DataError


def load_mt5(folder: Path, symbols: list[str] | None = None):
    cfg = run_config(
        "mt5_csv", {"fx": symbols or ["EURUSD"]}, path=str(folder), start=None, end=None
    )
    return load_market_data(cfg)


def load_csv(folder: Path, source: str = "csv"):
    cfg = run_config(source, {"eq": ["SPX500"]}, path=str(folder), start=None, end=None)
    return load_market_data(cfg)


def expect_error(call, *parts: str) -> str:
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


def test_mt5_loader_reads_a_valid_export(tmp_path: Path) -> None:
    write_mt5(tmp_path, "EURUSD", mt5_rows(5))
    data = load_mt5(tmp_path)
    assert data.symbols == ["EURUSD"] and data.n_days == 5
    assert data.dates[0] == pd.Timestamp("2020-01-02")
    assert data.open[0, 0].item() == pytest.approx(1.1)
    assert data.field("high")[1, 0].item() == pytest.approx(1.106)
    assert data.field("volume")[2, 0].item() == 1002  # <VOL> is 0 -> <TICKVOL>
    assert data.field("spread")[0, 0].item() == pytest.approx(12 * 1e-5)  # 12 points, 5 digits
    assert bool(data.has_range[0]) and bool(data.has_spread[0])
    assert data.provenance["EURUSD"].kind == "real"


def test_mt5_loader_accepts_daily_export_without_time_column(tmp_path: Path) -> None:
    header = MT5_HEADER.replace("<TIME>\t", "")
    rows = [r.replace("\t00:00:00", "") for r in mt5_rows(3)]
    write_mt5(tmp_path, "EURUSD", rows, header=header)
    assert load_mt5(tmp_path).n_days == 3


def test_mt5_loader_aggregates_intraday_bars_per_date(tmp_path: Path) -> None:
    rows = [
        "2020.01.02\t10:00:00\t1.10000\t1.10500\t1.09900\t1.10200\t10\t0\t10",
        "2020.01.02\t11:00:00\t1.10200\t1.11000\t1.10100\t1.10800\t20\t0\t20",
        "2020.01.03\t10:00:00\t1.10800\t1.10900\t1.10000\t1.10100\t5\t0\t10",
    ]
    write_mt5(tmp_path, "EURUSD", rows)
    data = load_mt5(tmp_path)
    assert data.n_days == 2
    bar = data.values[0, 0].tolist()  # open, high, low, close, volume, spread
    assert bar == pytest.approx([1.1, 1.11, 1.099, 1.108, 30.0, 15e-5])


def test_mt5_loader_rejects_duplicate_timestamp(tmp_path: Path) -> None:
    rows = mt5_rows(4)
    rows.insert(2, rows[1])
    write_mt5(tmp_path, "EURUSD", rows)
    expect_error(
        lambda: load_mt5(tmp_path),
        "EURUSD.csv",
        "line 4",
        "<DATE>",
        "2020-01-03",
        "duplicate timestamp",
    )


def test_mt5_loader_rejects_decreasing_timestamp(tmp_path: Path) -> None:
    rows = mt5_rows(4)
    rows[1], rows[2] = rows[2], rows[1]
    write_mt5(tmp_path, "EURUSD", rows)
    expect_error(
        lambda: load_mt5(tmp_path),
        "EURUSD.csv",
        "line 4 (2020.01.03)",
        "<DATE>",
        "decreasing timestamp",
    )


def test_mt5_loader_rejects_empty_cell(tmp_path: Path) -> None:
    rows = mt5_rows(4)
    cells = rows[2].split("\t")
    cells[5] = ""
    rows[2] = "\t".join(cells)
    write_mt5(tmp_path, "EURUSD", rows)
    expect_error(
        lambda: load_mt5(tmp_path),
        "EURUSD.csv",
        "line 4 (2020.01.06)",
        "<CLOSE>",
        "value ''",
        "empty cell",
    )


def test_mt5_loader_rejects_nan_cell(tmp_path: Path) -> None:
    rows = mt5_rows(4)
    rows[0] = rows[0].replace("\t1.10000\t", "\tNaN\t", 1)
    write_mt5(tmp_path, "EURUSD", rows)
    expect_error(lambda: load_mt5(tmp_path), "EURUSD.csv", "line 2", "<OPEN>", "'NaN'", "NaN cell")


def test_mt5_loader_rejects_non_positive_price(tmp_path: Path) -> None:
    rows = mt5_rows(4)
    cells = rows[3].split("\t")
    cells[4] = "-1.10100"  # <LOW>
    rows[3] = "\t".join(cells)
    write_mt5(tmp_path, "EURUSD", rows)
    expect_error(
        lambda: load_mt5(tmp_path),
        "EURUSD.csv",
        "line 5 (2020.01.07)",
        "<LOW>",
        "-1.101",
        "non-positive price",
    )


def test_mt5_loader_rejects_high_below_low(tmp_path: Path) -> None:
    rows = ["2020.01.02\t00:00:00\t1.10000\t1.09000\t1.10500\t1.10000\t1\t0\t1"]
    write_mt5(tmp_path, "EURUSD", mt5_rows(1, start="2019-12-31") + rows)
    expect_error(
        lambda: load_mt5(tmp_path),
        "EURUSD.csv",
        "line 3 (2020.01.02)",
        "<HIGH>",
        "1.09",
        "high below low 1.105",
    )


def test_mt5_loader_rejects_close_outside_range(tmp_path: Path) -> None:
    rows = ["2020.01.02\t00:00:00\t1.10000\t1.10500\t1.09500\t1.20000\t1\t0\t1"]
    write_mt5(tmp_path, "EURUSD", rows)
    expect_error(
        lambda: load_mt5(tmp_path),
        "EURUSD.csv",
        "line 2 (2020.01.02)",
        "<CLOSE>",
        "1.2",
        "close outside [low, high]",
    )


def test_mt5_loader_rejects_open_outside_range(tmp_path: Path) -> None:
    rows = ["2020.01.02\t00:00:00\t1.09000\t1.10500\t1.09500\t1.10000\t1\t0\t1"]
    write_mt5(tmp_path, "EURUSD", rows)
    expect_error(lambda: load_mt5(tmp_path), "EURUSD.csv", "<OPEN>", "1.09", "open outside")


def test_mt5_loader_rejects_unparseable_date(tmp_path: Path) -> None:
    rows = mt5_rows(3)
    rows[1] = rows[1].replace("2020.01.03", "2020-13-45")
    write_mt5(tmp_path, "EURUSD", rows)
    expect_error(
        lambda: load_mt5(tmp_path),
        "EURUSD.csv",
        "line 3",
        "<DATE>",
        "2020-13-45",
        "unparseable date",
    )


def test_mt5_loader_rejects_unparseable_number(tmp_path: Path) -> None:
    rows = mt5_rows(3)
    rows[2] = rows[2].replace("\t1002\t", "\tabc\t")
    write_mt5(tmp_path, "EURUSD", rows)
    expect_error(
        lambda: load_mt5(tmp_path), "EURUSD.csv", "line 4", "<TICKVOL>", "'abc'", "not a number"
    )


def test_mt5_loader_rejects_row_with_missing_fields(tmp_path: Path) -> None:
    rows = mt5_rows(3)
    rows[1] = "\t".join(rows[1].split("\t")[:6])
    write_mt5(tmp_path, "EURUSD", rows)
    expect_error(
        lambda: load_mt5(tmp_path),
        "EURUSD.csv",
        "line 3",
        "unparseable row",
        "6 fields, header has 9",
    )


def test_mt5_loader_rejects_comma_separated_header(tmp_path: Path) -> None:
    (tmp_path / "EURUSD.csv").write_text(MT5_HEADER.replace("\t", ",") + "\n2020.01.02,1,1,1,1\n")
    expect_error(lambda: load_mt5(tmp_path), "EURUSD.csv", "line 1 (header)", "<DATE>")


def test_mt5_loader_rejects_empty_file(tmp_path: Path) -> None:
    (tmp_path / "EURUSD.csv").write_text("")
    expect_error(lambda: load_mt5(tmp_path), "EURUSD.csv", "empty file")


def test_mt5_loader_rejects_header_only_file(tmp_path: Path) -> None:
    write_mt5(tmp_path, "EURUSD", [])
    expect_error(lambda: load_mt5(tmp_path), "EURUSD.csv", "empty file")


def test_mt5_loader_rejects_missing_symbol_file_listing_what_is_there(tmp_path: Path) -> None:
    write_mt5(tmp_path, "EURUSD", mt5_rows(3))
    expect_error(
        lambda: load_mt5(tmp_path, ["EURUSD", "GBPUSD"]),
        "GBPUSD.csv",
        "missing file for symbol GBPUSD",
        "files there: EURUSD.csv",
    )


def test_mt5_loader_rejects_missing_folder(tmp_path: Path) -> None:
    expect_error(lambda: load_mt5(tmp_path / "nowhere"), "nowhere", "folder not found")


def test_mt5_loader_reads_utf16_export(tmp_path: Path) -> None:
    text = "\n".join([MT5_HEADER, *mt5_rows(3)]) + "\n"
    (tmp_path / "EURUSD.csv").write_bytes(text.encode("utf-16"))
    assert load_mt5(tmp_path).n_days == 3


def test_csv_loader_reads_generic_file(tmp_path: Path) -> None:
    write_csv(tmp_path, "SPX500", csv_rows(4))
    data = load_csv(tmp_path)
    assert data.close[:, 0].tolist() == [101.0, 102.0, 103.0, 104.0]
    assert data.field("spread")[0, 0].item() == 0.5
    assert bool(data.has_range[0])


def test_csv_loader_reads_close_only_file(tmp_path: Path) -> None:
    write_csv(tmp_path, "SPX500", ["2020-01-02,10", "2020-01-03,11"], header="Date,Close")
    data = load_csv(tmp_path)
    assert not bool(data.has_range[0]) and data.open[1, 0].item() == 11.0


def test_csv_loader_rejects_non_positive_price(tmp_path: Path) -> None:
    rows = csv_rows(4)
    cells = rows[2].split(",")
    cells[4] = "0"  # close of 2020-01-06
    rows[2] = ",".join(cells)
    write_csv(tmp_path, "SPX500", rows)
    expect_error(
        lambda: load_csv(tmp_path),
        "SPX500.csv",
        "line 4 (2020-01-06)",
        "column close",
        "value 0.0",
        "non-positive price",
    )


def test_csv_loader_rejects_duplicate_timestamp(tmp_path: Path) -> None:
    rows = csv_rows(3)
    rows.append(rows[-1])
    write_csv(tmp_path, "SPX500", rows)
    expect_error(
        lambda: load_csv(tmp_path), "SPX500.csv", "line 5", "column date", "duplicate timestamp"
    )


def test_csv_loader_rejects_partial_range_columns(tmp_path: Path) -> None:
    write_csv(tmp_path, "SPX500", ["2020-01-02,10,11"], header="date,close,high")
    expect_error(lambda: load_csv(tmp_path), "SPX500.csv", "line 1 (header)", "open")


def test_parquet_loader_rejects_nan_naming_the_date(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"date": pd.bdate_range("2020-01-02", periods=3), "close": [1.0, float("nan"), 1.2]}
    )
    frame.to_parquet(tmp_path / "SPX500.parquet")
    expect_error(
        lambda: load_csv(tmp_path, "parquet"),
        "SPX500.parquet",
        "row 2 (2020-01-03)",
        "column close",
        "NaN",
    )


def test_parquet_loader_reads_valid_file(tmp_path: Path) -> None:
    frame = pd.DataFrame({"close": [1.0, 1.1, 1.2]}, index=pd.bdate_range("2020-01-02", periods=3))
    frame.index.name = "date"
    frame.to_parquet(tmp_path / "SPX500.parquet")
    assert load_csv(tmp_path, "parquet").close[:, 0].tolist() == [1.0, 1.1, 1.2]


def test_synthetic_rejects_unknown_symbol_listing_available() -> None:
    cfg = run_config("synthetic", {"fx": ["EURUSD", "XYZ"]}, start=None, end=None)
    expect_error(lambda: load_market_data(cfg), "unknown symbol XYZ", "available: EURUSD")
