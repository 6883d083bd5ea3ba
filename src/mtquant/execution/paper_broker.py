"""``PaperBroker``: fills orders on historical rows with exactly the environment's cost model.

It holds one account (``B = 1``) as a :class:`~mtquant.execution.kernel.KernelState`
and executes every day with :func:`~mtquant.execution.kernel.step_kernel`, the function
the batched environment steps with: same t+1 fills, spread, commission, slippage, swap and margin
call. ``submit_orders`` is one trading day (decided at the close of row ``t``, filled at the open
of ``t + 1``, marked at the close of ``t + 1``); an empty order list still advances the day.

Every order is gated first by the
:class:`~mtquant.risk_management.pre_trade_checker.PreTradeChecker` (the pre-trade rules the
environment's risk transform applies: no price for the bar, price band against the last close,
position size, gross leverage, margin); a refused order comes back in the
:class:`~mtquant.execution.orders.ExecutionReport` with its reason and its leg is not traded.
"""

from __future__ import annotations

from datetime import datetime

import torch

from mtquant.config.env import EnvConfig
from mtquant.config.risk import RiskConfig
from mtquant.errors import DataError
from mtquant.execution.broker import Broker
from mtquant.execution.costs import fill_costs, pnl_usd
from mtquant.execution.kernel import (
    KernelParams,
    KernelState,
    MarketTape,
    StepBreakdown,
    step_kernel,
)
from mtquant.execution.orders import ExecutionReport, Fill, Order, Portfolio, Position, Rejection
from mtquant.features.feature_set import FeatureSet
from mtquant.instruments import InstrumentUniverse, usd_per_unit
from mtquant.risk_management.guard import PRE_TRADE_REASONS
from mtquant.risk_management.pre_trade_checker import PreTradeChecker


class PaperBroker(Broker):
    """Simulated broker over the rows ``[start_row, stop_row)`` of a feature set's prices."""

    def __init__(
        self,
        features: FeatureSet,
        universe: InstrumentUniverse,
        env_cfg: EnvConfig,
        risk_cfg: RiskConfig,
        start_row: int,
        stop_row: int | None = None,
    ) -> None:
        self.universe = universe
        self.dates = features.dates
        self.stop_row = features.n_days if stop_row is None else stop_row
        if not 0 <= start_row < self.stop_row - 1:
            raise DataError(
                f"paper broker start_row {start_row} must leave a row to fill before {self.stop_row}"
            )
        self.tape = MarketTape.from_features(features, universe)
        self.params = KernelParams.from_config(universe, env_cfg, risk_cfg)
        self.checker = PreTradeChecker(risk_cfg, universe, env_cfg.rebalance_band)
        self.order_ok = features.order_ok()  # [T, N] bars on t and on the fill day
        self.state = KernelState.initial(
            torch.tensor([start_row]), universe.n, len(universe.specialists), env_cfg.initial_equity
        )
        self.terminated = False
        self.fills: list[Fill] = []
        self.rejections: list[Rejection] = []
        self.last_breakdown: StepBreakdown | None = None

    @property
    def row(self) -> int:
        return int(self.state.t.item())

    def _gate(self, orders: list[Order], when: datetime) -> tuple[torch.Tensor, list[Rejection]]:
        """Units to trade ``[1, N]`` after the pre-trade checks, and the refused orders."""
        st, t = self.state, self.row
        rejected: list[Rejection] = []
        delta = torch.zeros(1, self.universe.n, dtype=torch.float64)
        close = self.tape.close[t][None]
        price = close.clone()  # each leg's order price (the last order in that symbol)
        legs: dict[int, list[Order]] = {}
        for order in orders:
            if order.symbol not in self.universe.symbols:
                reason = f"unknown_symbol: {order.symbol!r}; known {self.universe.symbols}"
                rejected.append(Rejection(order, reason, when))
                continue
            k = self.universe.index_of(order.symbol)
            delta[0, k] += order.signed_quantity
            if order.price is not None:
                price[0, k] = float(order.price)
            legs.setdefault(k, []).append(order)
        upu = usd_per_unit(close, self.params.usd_base)
        equity = st.equity.clamp_min(1e-12)[:, None]
        current = st.units * upu / equity
        target = (st.units + delta) * upu / equity
        reasons = self.checker.check_book(current, target, self.order_ok[t][None], price, close)
        for k, code in enumerate(reasons[0].tolist()):
            if code and k in legs:
                delta[0, k] = 0.0
                rejected += [Rejection(o, PRE_TRADE_REASONS[code], when) for o in legs[k]]
        return delta, rejected

    def submit_orders(self, orders: list[Order]) -> ExecutionReport:
        if self.terminated:
            raise DataError(f"paper account was stopped out at row {self.row}; no more orders")
        if self.row + 1 >= self.stop_row:
            raise DataError(f"paper broker at row {self.row}: no next row before {self.stop_row}")
        before = self.state
        delta, rejected = self._gate(orders, self.dates[self.row].to_pydatetime())
        target = before.units + delta
        new, bd = step_kernel(before, target, self.tape, self.params)
        t1 = int(new.t.item())
        when = self.dates[t1].to_pydatetime()
        fills = self._fill_records(before.units, target, bd.orders, bd.margin_call, t1, when)
        self.state, self.terminated = new, bool(bd.margin_call.item())
        self.last_breakdown = bd
        self.fills.extend(fills)
        self.rejections.extend(rejected)
        return ExecutionReport(fills, rejected)

    def _fill_records(
        self,
        u0: torch.Tensor,
        target: torch.Tensor,
        sent: torch.Tensor,
        call: torch.Tensor,
        t1: int,
        when: datetime,
    ) -> list[Fill]:
        """Fill records of the open (sent orders) and of a margin-call close-out at the close."""
        p = self.params
        price = self.tape.fill_price[t1][None]
        half_spread = self.tape.half_spread[t1][None]  # [1, N] quoted on the fill row
        du = torch.where(sent, target - u0, torch.zeros_like(u0))
        spread, comm, slip = fill_costs(
            du.abs(), price, half_spread, p.commission, p.slippage, p.usd_base, p.cost_multiplier
        )
        records = [
            Fill(
                self.universe.symbols[k],
                du[0, k].item(),
                price[0, k].item(),
                spread[0, k].item(),
                comm[0, k].item(),
                slip[0, k].item(),
                when,
                "order",
            )
            for k in torch.nonzero(sent[0]).flatten().tolist()
        ]
        if call.item():
            held = u0 + du
            close = self.tape.close[t1][None]
            cs, cc, cl = fill_costs(
                held.abs(),
                close,
                half_spread,
                p.commission,
                p.slippage,
                p.usd_base,
                p.cost_multiplier,
            )
            records += [
                Fill(
                    self.universe.symbols[k],
                    -held[0, k].item(),
                    close[0, k].item(),
                    cs[0, k].item(),
                    cc[0, k].item(),
                    cl[0, k].item(),
                    when,
                    "margin_call",
                )
                for k in torch.nonzero(held[0]).flatten().tolist()
            ]
        return records

    def positions(self) -> list[Position]:
        st, t = self.state, self.row
        close = self.tape.close[t]
        usd_base = self.params.usd_base
        return [
            Position(
                self.universe.symbols[k],
                st.units[0, k].item(),
                st.entry_price[0, k].item(),
                close[k].item(),
                bool(usd_base[k].item()),
            )
            for k in torch.nonzero(st.units[0]).flatten().tolist()
        ]

    def account(self) -> Portfolio:
        st, t = self.state, self.row
        close = self.tape.close[t][None]
        p = self.params
        unreal = pnl_usd(st.units, st.entry_price, close, p.usd_base).sum().item()
        margin = (st.units.abs() * usd_per_unit(close, p.usd_base) * p.margin_rate).sum().item()
        equity = st.equity.item()
        return Portfolio(
            equity=equity,
            cash=equity - unreal,
            positions=self.positions(),
            margin_used=margin,
            margin_available=equity - margin,
            peak_equity=st.peak_equity.item(),
            returns_history=st.returns[0].clone(),
            specialist_stats=torch.stack([st.spec_m1[0], st.spec_m2[0], st.spec_hit[0]]),
            row=t,
            timestamp=self.dates[t].to_pydatetime(),
        )
