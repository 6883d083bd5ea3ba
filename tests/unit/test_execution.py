"""Execution objects and the PaperBroker (the env's kernel at B = 1)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from mtquant.config import compose_config, to_object
from mtquant.errors import DataError
from mtquant.execution import ExecutionReport, Order, PaperBroker, Position, Side
from mtquant.execution.kernel import (
    KernelParams,
    KernelState,
    MarketTape,
    step_kernel,
    target_units,
)
from mtquant.instruments import InstrumentUniverse
from mtquant.testing.random_walk import random_walk_features

CFG = to_object(compose_config("train", []))
UNIVERSE = InstrumentUniverse.from_config(CFG.instruments)
FEATURES = random_walk_features(UNIVERSE, n_days=120, seed=4)


def test_order_rejects_non_positive_quantity() -> None:
    with pytest.raises(DataError, match="EURUSD buy"):
        Order("EURUSD", Side.BUY, 0.0)
    assert Order("EURUSD", Side.SELL, 2.0).signed_quantity == -2.0


def test_position_notional_and_unrealised_pnl_follow_the_usd_convention() -> None:
    eur = Position("EURUSD", units=-1000.0, entry_price=1.10, last_price=1.12)
    assert eur.notional == pytest.approx(-1120.0) and eur.unrealized_pnl == pytest.approx(-20.0)
    jpy = Position("USDJPY", units=1000.0, entry_price=110.0, last_price=110.55, usd_base=True)
    assert jpy.notional == 1000.0
    assert jpy.unrealized_pnl == pytest.approx(1000.0 * (1 - 110.0 / 110.55))


def test_paper_broker_fill_costs_and_equity_equal_the_kernel_step() -> None:
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=70)
    report = broker.submit_orders(
        [Order("EURUSD", Side.BUY, 50_000.0), Order("US30", Side.SELL, 2.0)]
    )
    fills = report.fills
    assert report.rejected == []
    params = KernelParams.build(
        UNIVERSE,
        slippage_bps=CFG.env.slippage_bps,
        cost_multiplier=1.0,
        stop_out_level=CFG.risk.stop_out_level,
    )
    tape = MarketTape.from_features(FEATURES, UNIVERSE)
    target = torch.zeros(1, 8, dtype=torch.float64)
    target[0, 0], target[0, 7] = 50_000.0, -2.0
    ref, bd = step_kernel(KernelState.initial(torch.tensor([70]), 8, 3, 1e5), target, tape, params)
    assert broker.account().equity == ref.equity.item()
    assert [(f.symbol, f.units) for f in fills] == [("EURUSD", 50_000.0), ("US30", -2.0)]
    eur = fills[0]
    assert eur.price == FEATURES.fill_price[71, 0].item()
    assert eur.spread_cost == pytest.approx(0.5 * 0.00012 * 50_000.0, rel=1e-12)
    assert eur.commission == pytest.approx(0.35e-4 * 50_000.0 * eur.price, rel=1e-12)
    assert eur.slippage == pytest.approx(0.5e-4 * 50_000.0 * eur.price, rel=1e-12)
    assert broker.row == 71 and {p.symbol for p in broker.positions()} == {"EURUSD", "US30"}
    acct = broker.account()
    close = FEATURES.close[71]
    margin = 50_000.0 * close[0].item() * 0.0333 + 2.0 * close[7].item() * 0.05
    assert acct.margin_used == pytest.approx(margin, rel=1e-12)
    assert acct.cash == pytest.approx(acct.equity - sum(p.unrealized_pnl for p in acct.positions))


def test_paper_broker_empty_order_list_advances_one_day_without_cost() -> None:
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=70)
    assert broker.submit_orders([]) == ExecutionReport([], []) and broker.row == 71
    assert broker.account().equity == CFG.env.initial_equity


def test_paper_broker_margin_call_reports_close_out_fills_and_stops() -> None:
    # limits loose enough for a 16x book: the pre-trade gate lets it through, the market does not
    loose = replace(
        CFG.risk, max_gross_leverage=30.0, max_position_weight=5.0, max_margin_usage=1.0
    )
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, loose, start_row=70)
    move = torch.sign(FEATURES.close[100] - FEATURES.close[70])
    eq = torch.tensor([1e5], dtype=torch.float64)
    units = target_units(
        -2.0 * move[None], eq, FEATURES.close[70][None], UNIVERSE.terms()["usd_base"]
    )
    orders = [
        Order(s, Side.BUY if u > 0 else Side.SELL, abs(u))
        for s, u in zip(UNIVERSE.symbols, units[0].tolist(), strict=True)
    ]
    assert broker.submit_orders(orders).rejected == []
    fills = []
    while not broker.terminated and broker.row < 100:
        fills = broker.submit_orders([]).fills
    assert broker.terminated and broker.positions() == []
    assert fills and all(f.reason == "margin_call" for f in fills)
    with pytest.raises(DataError, match="stopped out"):
        broker.submit_orders([])


def test_paper_broker_refuses_unknown_symbols_with_the_reason_and_stops_at_the_end() -> None:
    broker = PaperBroker(FEATURES, UNIVERSE, CFG.env, CFG.risk, start_row=118)
    unknown = Order("XYZ", Side.BUY, 1.0)
    report = broker.submit_orders([unknown, Order("EURUSD", Side.BUY, 1_000.0)])
    assert [r.order for r in report.rejected] == [unknown]
    assert report.rejected[0].reason.startswith("unknown_symbol") and len(report.fills) == 1
    assert broker.rejections == report.rejected  # the broker keeps every refusal
    with pytest.raises(DataError, match="no next row"):
        broker.submit_orders([])
