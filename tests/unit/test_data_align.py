"""Alignment: business-day calendar, bounded forward fill, mask, days dropped beyond the limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_fixtures import mt5_rows, run_config, write_mt5

from mtquant.data import load_market_data
from mtquant.data.validation import check_bars, date_rows
from mtquant.errors import DataError


def _two_symbols(tmp_path: Path, drop_gbp: list[int], n: int = 12, max_ffill: int = 3):
    write_mt5(tmp_path, "EURUSD", mt5_rows(n, start="2020-01-06"))
    rows = mt5_rows(n, start="2020-01-06", base=1.3)
    write_mt5(tmp_path, "GBPUSD", [r for k, r in enumerate(rows) if k not in drop_gbp])
    cfg = run_config(
        "mt5_csv",
        {"fx": ["EURUSD", "GBPUSD"]},
        path=str(tmp_path),
        start=None,
        end=None,
        max_ffill_days=max_ffill,
    )
    return load_market_data(cfg)


def test_alignment_fills_short_gap_with_flat_bar_and_mask(tmp_path: Path) -> None:
    data = _two_symbols(tmp_path, drop_gbp=[3, 4])  # 2 missing days <= 3
    assert data.n_days == 12
    gbp = data.values[:, 1].numpy()
    assert data.mask[:, 1].tolist() == [k not in (3, 4) for k in range(12)]
    for t in (3, 4):  # flat bar at the last close, no volume, spread kept
        assert gbp[t, :4].tolist() == [gbp[2, 3]] * 4
        assert gbp[t, 4] == 0.0 and gbp[t, 5] == gbp[2, 5]
    assert data.gaps == []


def test_alignment_drops_days_beyond_fill_limit_for_all_instruments(tmp_path: Path) -> None:
    data = _two_symbols(tmp_path, drop_gbp=[3, 4, 5, 6, 7], max_ffill=3)  # 5 missing days
    all_days = pd.bdate_range("2020-01-06", periods=12)
    assert list(data.dates) == [d for k, d in enumerate(all_days) if k not in (6, 7)]
    assert len(data.gaps) == 1
    assert "GBPUSD: 5 market days without a bar, 2020-01-09 to 2020-01-15" in data.gaps[0]
    assert "2 day(s) dropped" in data.gaps[0]


def test_alignment_with_zero_fill_limit_keeps_only_common_days(tmp_path: Path) -> None:
    data = _two_symbols(tmp_path, drop_gbp=[2], max_ffill=0)
    assert data.n_days == 11 and bool(data.mask.all())


def test_alignment_skips_days_when_every_market_is_shut(tmp_path: Path) -> None:
    days = pd.bdate_range("2020-12-21", periods=10)
    rows = [
        r
        for r, d in zip(mt5_rows(10, start="2020-12-21"), days, strict=True)
        if d != pd.Timestamp("2020-12-25")
    ]
    write_mt5(tmp_path, "EURUSD", rows)
    cfg = run_config("mt5_csv", {"fx": ["EURUSD"]}, path=str(tmp_path), start=None, end=None)
    data = load_market_data(cfg)
    assert pd.Timestamp("2020-12-25") not in data.dates and bool(data.mask.all())


def test_alignment_window_with_no_bars_raises(tmp_path: Path) -> None:
    write_mt5(tmp_path, "EURUSD", mt5_rows(5, start="2020-01-06"))
    cfg = run_config(
        "mt5_csv", {"fx": ["EURUSD"]}, path=str(tmp_path), start="2021-01-01", end="2021-12-31"
    )
    with pytest.raises(DataError, match="EURUSD: no bars between data.start=2021-01-01"):
        load_market_data(cfg)


def test_check_bars_names_date_for_sources_without_lines() -> None:
    frame = pd.DataFrame({"close": [1.0, -2.0]}, index=pd.bdate_range("2020-01-02", periods=2))
    with pytest.raises(DataError, match=r"pkg: row 2 \(2020-01-03\), column close, value -2.0"):
        check_bars(frame, file="pkg", where=date_rows(frame.index))


def test_check_bars_rejects_negative_volume() -> None:
    idx = pd.bdate_range("2020-01-02", periods=2)
    frame = pd.DataFrame({"close": [1.0, 2.0], "volume": [1.0, -5.0]}, index=idx)
    with pytest.raises(DataError, match="column volume, value -5.0: negative volume"):
        check_bars(frame, file="pkg", where=date_rows(frame.index))


def test_alignment_values_are_float64_tensors(tmp_path: Path) -> None:
    data = _two_symbols(tmp_path, drop_gbp=[])
    assert data.values.dtype.is_floating_point and data.values.dtype.itemsize == 8
    assert np.isfinite(data.values.numpy()).all()
