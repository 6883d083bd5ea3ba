"""Per-bar quoted spreads: data -> FeatureSet -> MarketTape -> what every fill pays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from data_fixtures import run_config
from test_features_fixtures import make_market_data

from mtquant.config import compose_config, to_object
from mtquant.config.instruments import InstrumentsConfig
from mtquant.data import load_market_data, model_from_config
from mtquant.data.market_data import FIELDS
from mtquant.data.synthetic import START_PRICE, generate
from mtquant.errors import DataError
from mtquant.execution import Order, PaperBroker, Side
from mtquant.execution.kernel import KernelParams, KernelState, MarketTape, step_kernel
from mtquant.features import compute_features
from mtquant.instruments import InstrumentUniverse
from mtquant.testing.random_walk import random_walk_features

CFG = to_object(compose_config("train", []))
UNIVERSE = InstrumentUniverse.from_config(CFG.instruments)
SPREAD = FIELDS.index("spread")


def _one(symbol: str) -> InstrumentUniverse:
    """A universe of one instrument with the all8 table's terms."""
    sub = InstrumentsConfig(
        active=["only"], specialists={"only": [symbol]}, symbols=dict(CFG.instruments.symbols)
    )
    return InstrumentUniverse.from_config(sub)


def _params(universe: InstrumentUniverse) -> KernelParams:
    return KernelParams.build(universe, slippage_bps=0.5, cost_multiplier=1.0, stop_out_level=0.5)


def _tape(universe: InstrumentUniverse, close: list[float], spread: list[float]) -> MarketTape:
    """A close-only one-instrument tape (fills at the close) quoting ``spread`` on each bar."""
    c = torch.tensor(close, dtype=torch.float64)[:, None]
    s = torch.tensor(spread, dtype=torch.float64)[:, None]
    weekdays = torch.arange(len(close)) % 5
    return MarketTape.build(c, c, weekdays, universe, spread=s, has_spread=torch.tensor([True]))


def test_tape_without_quoted_spreads_charges_the_instrument_table_on_every_row() -> None:
    features = compute_features(make_market_data(n_days=400), UNIVERSE)
    assert not bool(features.has_spread.any()) and bool((features.spread == 0).all())
    tape = MarketTape.from_features(features, UNIVERSE)
    table = 0.5 * UNIVERSE.terms()["spread"]
    assert tape.half_spread.shape == (400, 8)
    assert torch.equal(tape.half_spread, table.expand(400, 8))
    assert table[0].item() == 0.5 * 0.00012  # EURUSD in conf/instruments/all8.yaml


def test_packaged_real_series_pay_the_table_and_proxies_its_fraction_of_the_price() -> None:
    cfg = to_object(compose_config("train", ["data=packaged"]))
    features = compute_features(load_market_data(cfg), UNIVERSE)
    tape = MarketTape.from_features(features, UNIVERSE)
    table = (0.5 * UNIVERSE.terms()["spread"]).expand_as(tape.close)
    proxy = torch.tensor([s in ("XAUUSD", "US30") for s in UNIVERSE.symbols])
    assert torch.equal(tape.half_spread[:, ~proxy], table[:, ~proxy])  # real: no quotes
    gold = UNIVERSE.symbols.index("XAUUSD")  # the table's 0.30 USD at 1,300 USD/oz
    expected = 0.5 * 0.30 / 1300.0 * tape.close[:, gold]
    torch.testing.assert_close(tape.half_spread[:, gold], expected, rtol=1e-12, atol=0.0)


def test_quoted_spread_of_the_fill_bar_is_paid_by_a_usd_quoted_order() -> None:
    eur = _one("EURUSD")
    tape = _tape(eur, [1.10, 1.20, 1.21], [0.0002, 0.0006, 0.0010])
    state = KernelState.initial(torch.tensor([0]), 1, 1, 100_000.0)
    _, b = step_kernel(state, torch.tensor([[50_000.0]], dtype=torch.float64), tape, _params(eur))
    # fill on row 1: half of 0.0006 per EUR on 50,000 EUR = 15 USD (the table would charge 3)
    assert b.spread_cost.item() == pytest.approx(0.5 * 0.0006 * 50_000.0, rel=1e-12)
    assert b.spread_cost.item() == pytest.approx(15.0, rel=1e-12)


def test_quoted_spread_of_the_fill_bar_is_paid_by_a_usd_based_order_converted_at_the_fill() -> None:
    jpy = _one("USDJPY")
    tape = _tape(jpy, [110.0, 120.0, 121.0], [0.02, 0.05, 0.08])
    state = KernelState.initial(torch.tensor([0]), 1, 1, 100_000.0)
    _, b = step_kernel(state, torch.tensor([[-100_000.0]], dtype=torch.float64), tape, _params(jpy))
    # half of 0.05 JPY per USD on 100,000 USD = 2,500 JPY, at 120 JPY per USD = 20.8333 USD
    assert b.spread_cost.item() == pytest.approx(0.5 * 0.05 * 100_000.0 / 120.0, rel=1e-12)


def test_margin_call_close_out_pays_the_quoted_spread_of_its_bar() -> None:
    eur = _one("EURUSD")
    tape = _tape(eur, [1.10, 1.01], [0.0002, 0.0008])
    state = KernelState.initial(torch.tensor([0]), 1, 1, 100_000.0)
    state.units[0, 0] = 1_000_000.0
    held = state.units.clone()
    # -90,000 USD overnight leaves ~10,000 < 0.5 * 1e6 * 1.01 * 0.0333: stopped out at close[1]
    _, b = step_kernel(state, held, tape, _params(eur))
    assert bool(b.margin_call.item()) and not bool(b.orders.any())
    assert b.spread_cost.item() == pytest.approx(0.5 * 0.0008 * 1_000_000.0, rel=1e-12)


def test_tape_mixes_quoted_spreads_and_the_table_per_instrument() -> None:
    close = torch.full((3, 8), 100.0, dtype=torch.float64)
    spread = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)[:, None].expand(3, 8)
    has = torch.zeros(8, dtype=torch.bool)
    has[5] = True  # SPX500 quotes its spread; the others fall back to the table
    tape = MarketTape.build(close, close, torch.tensor([0, 1, 2]), UNIVERSE, spread, has)
    table = 0.5 * UNIVERSE.terms()["spread"]
    assert tape.half_spread[:, 5].tolist() == [0.05, 0.1, 0.15]
    keep = torch.arange(8) != 5
    assert torch.equal(tape.half_spread[:, keep], table[keep].expand(3, 7))
    with pytest.raises(DataError, match="one quoted spread per bar"):
        MarketTape.build(close, close, torch.tensor([0, 1, 2]), UNIVERSE, spread[:2], has)


def test_compute_features_carries_the_data_spread_column_and_rejects_a_negative_one() -> None:
    data = make_market_data(n_days=400)
    quoted = torch.tensor([s in ("EURUSD", "SPX500") for s in data.symbols])
    data.values[..., SPREAD] = torch.where(quoted[None, :], 1e-4 * data.close, 0.0)
    data.has_spread = quoted
    features = compute_features(data, UNIVERSE)
    assert torch.equal(features.has_spread, quoted)
    assert torch.equal(features.spread, data.values[..., SPREAD])
    tape = MarketTape.from_features(features, UNIVERSE)
    assert torch.equal(tape.half_spread[:, 0], 0.5e-4 * data.close[:, 0])
    assert tape.half_spread[7, 1].item() == 0.5 * UNIVERSE.terms()["spread"][1].item()
    data.values[17, 5, SPREAD] = -0.5
    with pytest.raises(DataError, match=r"SPX500, date \S+, column spread: value -0.5"):
        compute_features(data, UNIVERSE)


def test_paper_broker_fill_records_pay_the_quoted_spread_of_the_fill_row() -> None:
    features = random_walk_features(UNIVERSE, n_days=120, seed=4, spread_fraction=2e-4)
    broker = PaperBroker(features, UNIVERSE, CFG.env, CFG.risk, start_row=70)
    eur, jpy = broker.submit_orders(
        [Order("EURUSD", Side.BUY, 50_000.0), Order("USDJPY", Side.SELL, 30_000.0)]
    ).fills
    c_eur, c_jpy = features.close[71, 0].item(), features.close[71, 2].item()
    assert eur.spread_cost == pytest.approx(0.5 * 2e-4 * c_eur * 50_000.0, rel=1e-12)
    price_jpy = features.fill_price[71, 2].item()
    assert jpy.spread_cost == pytest.approx(0.5 * 2e-4 * c_jpy * 30_000.0 / price_jpy, rel=1e-12)
    assert broker.last_breakdown is not None
    assert broker.last_breakdown.spread_cost[0, 0].item() == eur.spread_cost


def _synthetic_cfg(extra: list[str] | None = None):
    overrides = ["data=synthetic", "data.synthetic.calibrate_to_packaged=false"]
    return compose_config("train", overrides + (extra or []))


def test_synthetic_spread_is_the_table_spread_at_the_start_price_scaled_with_the_price() -> None:
    cfg = to_object(_synthetic_cfg())
    data = load_market_data(cfg)
    assert bool(data.has_spread.all())
    ratio = (data.field("spread") / data.close).numpy()
    table = np.array([CFG.instruments.symbols[s].spread for s in data.symbols])
    expected = table / np.array([START_PRICE[s] for s in data.symbols])
    np.testing.assert_allclose(ratio, np.broadcast_to(expected, ratio.shape), rtol=1e-12)
    # EURUSD quotes 1.2 pips at 1.1 and keeps the same relative spread wherever it drifts
    assert data.field("spread")[0, 0].item() == pytest.approx(0.00012, rel=1e-12)
    # prices are the generator's, untouched by the spread column
    model = model_from_config(cfg)
    dates = pd.bdate_range(cfg.data.synthetic.start, periods=cfg.data.synthetic.n_days)
    close = generate(model, dates, cfg.data.seed)
    for f in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(data.field(f).numpy(), close)


def test_synthetic_spreads_follow_the_runs_instrument_table_from_a_dictconfig() -> None:
    composed = _synthetic_cfg(["instruments.symbols.EURUSD.spread=0.00033"])
    data = load_market_data(composed)
    assert data.field("spread")[0, 0].item() == pytest.approx(0.00033, rel=1e-12)
    assert data.field("spread")[0, 1].item() == pytest.approx(0.00016, rel=1e-12)


def test_synthetic_symbol_missing_from_the_instrument_table_is_a_data_error() -> None:
    cfg = run_config("synthetic", symbols={"forex": ["EURUSD", "GBPUSD"]}, start=None, end=None)
    with pytest.raises(DataError, match="symbol XAUUSD has no spread in the instrument table"):
        load_market_data(cfg, symbols=["EURUSD", "XAUUSD"])


def test_a_zero_quote_is_not_a_free_fill_it_pays_the_instrument_table() -> None:
    eurusd = _one("EURUSD")
    tape = _tape(eurusd, [1.1, 1.1, 1.1], [0.0006, 0.0, 0.0004])
    table = 0.5 * eurusd.terms()["spread"][0].item()
    assert tape.half_spread[:, 0].tolist() == pytest.approx([0.0003, table, 0.0002])
