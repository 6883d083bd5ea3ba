"""Hand-computed cases of the execution kernel: fills at t+1, costs, swap, USDJPY, margin call."""

from __future__ import annotations

import pytest
import torch

from mtquant.config import compose_config, to_object
from mtquant.execution.kernel import (
    KernelParams,
    KernelState,
    MarketTape,
    step_kernel,
    target_units,
)
from mtquant.instruments import InstrumentUniverse

EQ = 100_000.0
EUR, JPY = 0, 2  # axis positions in all8: EURUSD, GBPUSD, USDJPY, ...


@pytest.fixture(scope="module")
def universe() -> InstrumentUniverse:
    return InstrumentUniverse.from_config(to_object(compose_config("train", [])).instruments)


@pytest.fixture(scope="module")
def params(universe: InstrumentUniverse) -> KernelParams:
    return KernelParams.build(universe, slippage_bps=0.5, cost_multiplier=1.0, stop_out_level=0.5)


def make_tape(
    universe: InstrumentUniverse,
    close: list[list[float]],
    fill: list[list[float]],
    weekdays: list[int],
) -> MarketTape:
    """Rows of prices for EURUSD and USDJPY; the other instruments stay at 100."""
    t = len(close)
    c = torch.full((t, universe.n), 100.0, dtype=torch.float64)
    f = c.clone()
    c[:, [EUR, JPY]] = torch.tensor(close, dtype=torch.float64)
    f[:, [EUR, JPY]] = torch.tensor(fill, dtype=torch.float64)
    return MarketTape.build(c, f, torch.tensor(weekdays), universe)


def units(universe: InstrumentUniverse, eur: float = 0.0, jpy: float = 0.0) -> torch.Tensor:
    u = torch.zeros(1, universe.n, dtype=torch.float64)
    u[0, EUR], u[0, JPY] = eur, jpy
    return u


def start(universe: InstrumentUniverse) -> KernelState:
    return KernelState.initial(torch.tensor([0]), universe.n, 3, EQ)


def test_eurusd_trade_pays_spread_commission_slippage_then_triple_swap_over_wednesday(
    universe: InstrumentUniverse, params: KernelParams
) -> None:
    # row 0 Mon decision, row 1 Tue fill; Wednesday row 2 -> the night after it is triple
    tape = make_tape(
        universe,
        close=[[1.1000, 110.0], [1.1050, 110.0], [1.1060, 110.0], [1.1080, 110.0]],
        fill=[[1.1000, 110.0], [1.1010, 110.0], [1.1040, 110.0], [1.1070, 110.0]],
        weekdays=[0, 1, 2, 3],
    )
    u_star = EQ * 1.0 / 1.1000  # weight 1 sized at the decision close
    tgt = target_units(
        torch.tensor([[1.0] + [0.0] * 7]), torch.tensor([EQ]), tape.close[0:1], params.usd_base
    )
    assert tgt[0, EUR].item() == pytest.approx(u_star, rel=1e-12)

    s1, b1 = step_kernel(start(universe), tgt, tape, params)
    spread = 0.5 * 0.00012 * u_star
    commission = 0.35e-4 * u_star * 1.1010
    slippage = 0.5e-4 * u_star * 1.1010
    pnl = u_star * (1.1050 - 1.1010)  # bought at the t+1 open, marked at the t+1 close
    assert b1.spread_cost[0, EUR].item() == pytest.approx(spread, rel=1e-12)
    assert b1.commission[0, EUR].item() == pytest.approx(commission, rel=1e-12)
    assert b1.slippage[0, EUR].item() == pytest.approx(slippage, rel=1e-12)
    assert b1.swap[0, EUR].item() == 0.0  # nothing held over the first night
    assert b1.pnl[0, EUR].item() == pytest.approx(pnl, rel=1e-12)
    eq1 = EQ + pnl - spread - commission - slippage
    assert s1.equity.item() == pytest.approx(eq1, rel=1e-12)
    assert s1.entry_price[0, EUR].item() == pytest.approx(1.1010)
    assert s1.t.item() == 1

    # hold: night after Tuesday = 1 day of swap, no order
    s2, b2 = step_kernel(s1, s1.units, tape, params)
    swap_tue = 0.6e-4 * u_star * 1.1050 * 1
    assert not b2.orders.any()
    assert b2.spread_cost.sum().item() == b2.commission.sum().item() == 0.0
    assert b2.swap[0, EUR].item() == pytest.approx(swap_tue, rel=1e-12)
    assert b2.pnl[0, EUR].item() == pytest.approx(u_star * (1.1060 - 1.1050), rel=1e-9)

    # hold over Wednesday's rollover: triple swap
    s3, b3 = step_kernel(s2, s2.units, tape, params)
    assert b3.swap[0, EUR].item() == pytest.approx(0.6e-4 * u_star * 1.1060 * 3, rel=1e-12)
    expected = eq1 + u_star * (1.1080 - 1.1050) - swap_tue - 0.6e-4 * u_star * 1.1060 * 3
    assert s3.equity.item() == pytest.approx(expected, rel=1e-12)


def test_usdjpy_pnl_and_spread_are_converted_at_the_yen_price(
    universe: InstrumentUniverse, params: KernelParams
) -> None:
    tape = make_tape(
        universe,
        close=[[1.1, 109.0], [1.1, 110.55]],
        fill=[[1.1, 109.0], [1.1, 110.0]],
        weekdays=[0, 1],
    )
    tgt = target_units(
        torch.tensor([[0, 0, 1.0, 0, 0, 0, 0, 0]]),
        torch.tensor([EQ]),
        tape.close[0:1],
        params.usd_base,
    )
    assert tgt[0, JPY].item() == EQ  # USD-based: one unit is one dollar
    _, b = step_kernel(start(universe), tgt, tape, params)
    assert b.pnl[0, JPY].item() == pytest.approx(EQ * (1 - 110.0 / 110.55), rel=1e-12)
    assert b.spread_cost[0, JPY].item() == pytest.approx(0.5 * 0.012 * EQ / 110.0, rel=1e-12)
    assert b.commission[0, JPY].item() == pytest.approx(0.35e-4 * EQ, rel=1e-12)
    assert b.slippage[0, JPY].item() == pytest.approx(0.5e-4 * EQ, rel=1e-12)


def test_decision_at_t_fills_at_t_plus_1_and_ignores_the_row_t_fill_price(
    universe: InstrumentUniverse, params: KernelParams
) -> None:
    base = dict(close=[[1.10, 110.0], [1.12, 110.0]], weekdays=[0, 1])
    a = make_tape(universe, fill=[[1.10, 110.0], [1.11, 110.0]], **base)
    b = make_tape(universe, fill=[[1.30, 110.0], [1.11, 110.0]], **base)  # row-t fill changed
    u = units(universe, eur=10_000.0)
    _, ba = step_kernel(start(universe), u, a, params)
    _, bb = step_kernel(start(universe), u, b, params)
    assert ba.pnl[0, EUR].item() == pytest.approx(10_000.0 * (1.12 - 1.11), rel=1e-12)
    assert torch.equal(ba.pnl, bb.pnl) and torch.equal(ba.commission, bb.commission)


def test_close_only_series_fills_at_the_next_close_with_no_intraday_pnl(
    universe: InstrumentUniverse, params: KernelParams
) -> None:
    tape = make_tape(
        universe,
        close=[[1.10, 110.0], [1.12, 110.0]],
        fill=[[1.10, 110.0], [1.12, 110.0]],
        weekdays=[0, 1],
    )
    _, b = step_kernel(start(universe), units(universe, eur=10_000.0), tape, params)
    assert b.pnl[0, EUR].item() == 0.0
    assert b.commission[0, EUR].item() == pytest.approx(0.35e-4 * 10_000.0 * 1.12, rel=1e-12)


def test_unchanged_target_sends_no_order_and_pays_nothing(
    universe: InstrumentUniverse, params: KernelParams
) -> None:
    tape = make_tape(
        universe, close=[[1.1, 110.0]] * 3, fill=[[1.1, 110.0]] * 3, weekdays=[0, 1, 2]
    )
    zero = units(universe)
    s1, b1 = step_kernel(start(universe), zero, tape, params)
    assert not b1.orders.any() and b1.costs.abs().sum().item() == 0.0
    assert s1.equity.item() == EQ
    held = units(universe, eur=5_000.0)
    s2, _ = step_kernel(start(universe), held, tape, params)
    s3, b3 = step_kernel(s2, held * (1 + 1e-12), tape, params)
    assert not b3.orders.any()
    assert (b3.spread_cost + b3.commission + b3.slippage).sum().item() == 0.0


def test_margin_call_closes_every_position_pays_costs_and_flags_the_account(
    universe: InstrumentUniverse, params: KernelParams
) -> None:
    # 25x long EURUSD, the euro falls 3% by the close: equity ~ 25% < 0.5 x used margin (~81%)
    tape = make_tape(
        universe,
        close=[[1.10, 110.0], [1.067, 110.0]],
        fill=[[1.10, 110.0], [1.10, 110.0]],
        weekdays=[0, 1],
    )
    u = units(universe, eur=25 * EQ / 1.10)
    s1, b1 = step_kernel(start(universe), u, tape, params)
    assert b1.margin_call.item()
    assert s1.units.abs().sum().item() == 0.0
    u_abs = 25 * EQ / 1.10
    open_costs = u_abs * (0.5 * 0.00012 + 1.10 * (0.35e-4 + 0.5e-4))
    close_costs = u_abs * (0.5 * 0.00012 + 1.067 * (0.35e-4 + 0.5e-4))
    expected = EQ + u_abs * (1.067 - 1.10) - open_costs - close_costs
    assert s1.equity.item() == pytest.approx(expected, rel=1e-12)
    assert b1.traded_notional[0, EUR].item() == pytest.approx(u_abs * (1.10 + 1.067), rel=1e-12)


def test_account_wiped_out_is_floored_at_zero_equity(
    universe: InstrumentUniverse, params: KernelParams
) -> None:
    tape = make_tape(
        universe,
        close=[[1.10, 110.0], [0.90, 110.0]],
        fill=[[1.10, 110.0], [1.10, 110.0]],
        weekdays=[0, 1],
    )
    s1, b1 = step_kernel(start(universe), units(universe, eur=25 * EQ / 1.10), tape, params)
    assert b1.margin_call.item() and s1.equity.item() == 0.0 and s1.units.abs().sum().item() == 0.0


def test_cost_multiplier_scales_every_cost(
    universe: InstrumentUniverse, params: KernelParams
) -> None:
    doubled = KernelParams.build(
        universe, slippage_bps=0.5, cost_multiplier=2.0, stop_out_level=0.5
    )
    tape = make_tape(
        universe,
        close=[[1.1, 110.0]] * 3,
        fill=[[1.1, 110.0], [1.11, 111.0], [1.12, 112.0]],
        weekdays=[0, 1, 2],
    )
    u = units(universe, eur=10_000.0, jpy=-20_000.0)
    s_a, _ = step_kernel(start(universe), u, tape, params)
    s_b, _ = step_kernel(start(universe), u, tape, doubled)
    _, b_a = step_kernel(s_a, u * 0.5, tape, params)
    _, b_b = step_kernel(s_b, u * 0.5, tape, doubled)
    assert torch.allclose(b_b.costs, 2 * b_a.costs, rtol=1e-12, atol=0)
    assert (b_a.swap[0, JPY] > 0).item()  # short USDJPY pays -1.0 bps a night
