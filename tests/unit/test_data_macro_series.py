"""data.macro_path: user macro series replace the proxies, as of each trading day."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from mtquant.config import compose_config, to_object
from mtquant.data import load_market_data
from mtquant.errors import DataError
from mtquant.features import compute_features
from mtquant.features.macro import MACRO_NAMES
from mtquant.instruments import InstrumentUniverse

SYNTH = [
    "data=synthetic",
    "data.synthetic.n_days=400",
    "data.synthetic.calibrate_to_packaged=false",
]


def _cfg(path: Path):
    return to_object(compose_config("train", [*SYNTH, f"data.macro_path={path}"]))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_monthly_macro_values_hold_until_the_next_publication(tmp_path: Path) -> None:
    path = _write(tmp_path / "macro.csv",
                  "date,vix_proxy,rates_proxy\n2007-12-31,20,1.5\n2008-02-15,35,1.0\n")  # fmt: skip
    data = load_market_data(_cfg(path))
    assert data.macro_names == ["vix_proxy", "rates_proxy"]
    dates = data.dates
    before = dates < pd.Timestamp("2008-02-15")
    assert torch.equal(data.macro[torch.from_numpy(before), 0], torch.full((int(before.sum()),), 20.0,
                       dtype=torch.float64))  # fmt: skip
    assert data.macro[~torch.from_numpy(before), 0].eq(35.0).all()
    assert data.macro[:, 1].unique().tolist() == [1.0, 1.5]


def test_user_series_replace_the_proxy_of_the_same_name(tmp_path: Path) -> None:
    cfg = to_object(compose_config("train", SYNTH))
    universe = InstrumentUniverse.from_config(cfg.instruments)
    plain = compute_features(load_market_data(cfg), universe, train_end=300)
    path = _write(tmp_path / "macro.csv", "date,vix_proxy\n2007-12-31,20\n2008-06-02,40\n")
    user = compute_features(load_market_data(_cfg(path)), universe, train_end=300)
    k = MACRO_NAMES.index("vix_proxy")
    assert not torch.allclose(plain.macro[300:, k], user.macro[300:, k])
    others = [i for i in range(len(MACRO_NAMES)) if i != k]
    assert torch.equal(plain.macro[:, others], user.macro[:, others])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("date,vix_proxy\n2009-01-02,20\n", "first macro value is dated 2009-01-02, after"),
        ("date,vix_proxy\n2007-12-31,nan\n", "line 2 (2007-12-31), column vix_proxy, value 'nan'"),
        ("date,vix_proxy\n2007-12-31,1\n2007-12-31,2\n", "line 3 (2007-12-31), column date"),
        ("day,vix_proxy\n2007-12-31,1\n", "expected 'date' then one column per macro series"),
    ],
)
def test_bad_macro_files_are_refused_naming_the_culprit(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path / "m.csv", text)
    with pytest.raises(DataError, match="m.csv") as err:
        load_market_data(_cfg(path))
    assert message in str(err.value)


def test_an_unknown_macro_column_is_refused_naming_the_accepted_ones(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.csv", "date,gdp\n2007-12-31,1\n")
    cfg = _cfg(path)
    data = load_market_data(cfg)
    with pytest.raises(DataError, match="'gdp' is not a macro input; accepted"):
        compute_features(data, InstrumentUniverse.from_config(cfg.instruments), train_end=300)
