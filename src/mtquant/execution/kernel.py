"""The pure tensor step of B independent trading accounts: fills, costs, financing, margin call.

One function, :func:`step_kernel`, is the execution model of MTQuant. The batched
:class:`~mtquant.agents.environments.multi_instrument_env.MultiInstrumentEnv`, the
:class:`~mtquant.execution.paper_broker.PaperBroker` (at ``B = 1``) and the benchmark's bare
kernel all call it, so their accounting cannot drift apart.

Timeline of one step, for a target decided at the close of day ``t`` (state row ``t``):

1. The old position ``U`` is held overnight from ``close[t]`` to ``fill_price[t+1]`` and pays
   the swap of the night after day ``t`` (three nights when day ``t`` is the instrument's
   ``triple_swap_weekday``).
2. The order ``dU = U* - U`` fills at ``fill_price[t+1]`` (the open of ``t+1``; the close of
   ``t+1`` for close-only series) paying half the spread quoted on row ``t+1``
   (:attr:`MarketTape.half_spread`: the data's per-bar spread, else the instrument table's),
   commission and slippage (:mod:`mtquant.execution.costs`). An order whose USD notional at ``close[t]`` is at
   most ``max(rebalance_band, 1e-6) * equity`` is not sent: the position stays and nothing is paid.
3. The new position is marked to ``close[t+1]``.
4. Margin: ``used = sum |U*| * usd_per_unit(close[t+1]) * margin_rate``. If equity is
   ``<= 0`` or ``< stop_out_level * used``, every position is closed at ``close[t+1]`` paying the
   costs of that fill, equity is floored at 0 and ``margin_call`` is set (the env terminates).

Money is float64 throughout. Target units are sized with the decision-time price:
``U* = w* * equity_t / usd_per_unit(close[t])`` (:func:`target_units`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from mtquant.config.env import EnvConfig
from mtquant.config.risk import RiskConfig
from mtquant.errors import DataError
from mtquant.execution.costs import fill_costs, pnl_usd, swap_charge
from mtquant.features.feature_set import FeatureSet
from mtquant.features.layout import RETURNS_LOOKBACK, SPECIALIST_METRICS
from mtquant.instruments import InstrumentUniverse, usd_per_unit

MIN_ORDER_FRACTION = 1e-6  # orders below this fraction of equity count as "unchanged"
# (above float32 rounding of a weight, so re-sending the current weights sends no order)


@dataclass
class KernelState:
    """State of B accounts (all tensors batch-first, money float64)."""

    units: torch.Tensor  # [B, N] position in units of base
    equity: torch.Tensor  # [B] marked at close[t]
    entry_price: torch.Tensor  # [B, N] average entry price of the open position (0 when flat)
    t: torch.Tensor  # [B] long, row of the last close seen
    peak_equity: torch.Tensor  # [B]
    returns: torch.Tensor  # [B, 30] last daily simple returns of equity, oldest first
    spec_m1: torch.Tensor  # [B, S] EWMA of each specialist's daily net return
    spec_m2: torch.Tensor  # [B, S] EWMA of its square
    spec_hit: torch.Tensor  # [B, S] EWMA of 1[return > 0]

    @classmethod
    def initial(
        cls, t: torch.Tensor, n: int, s: int, equity: float, dtype: torch.dtype = torch.float64
    ) -> KernelState:
        """Flat accounts with ``equity`` USD at rows ``t`` ``[B]``."""
        b, dev = t.shape[0], t.device
        z = torch.zeros
        return cls(
            units=z(b, n, dtype=dtype, device=dev),
            equity=torch.full((b,), equity, dtype=dtype, device=dev),
            entry_price=z(b, n, dtype=dtype, device=dev),
            t=t.long(),
            peak_equity=torch.full((b,), equity, dtype=dtype, device=dev),
            returns=z(b, RETURNS_LOOKBACK, dtype=dtype, device=dev),
            spec_m1=z(b, s, dtype=dtype, device=dev),
            spec_m2=z(b, s, dtype=dtype, device=dev),
            spec_hit=z(b, s, dtype=dtype, device=dev),
        )

    def where(self, mask: torch.Tensor, other: KernelState) -> KernelState:
        """Rows of ``other`` where ``mask [B]`` is True, else this state's rows (partial reset)."""
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            m = mask.view(-1, *([1] * (a.dim() - 1)))
            out[f.name] = torch.where(m, b, a)
        return KernelState(**out)

    def clone(self) -> KernelState:
        return KernelState(**{f.name: getattr(self, f.name).clone() for f in fields(self)})


@dataclass(frozen=True)
class KernelParams:
    """Per-instrument terms ``[N]`` and scalar settings of the execution model.

    The spread is not a term here: it is per bar, :attr:`MarketTape.half_spread`."""

    commission: torch.Tensor  # [N] fraction of notional per side
    swap_long: torch.Tensor  # [N] fraction of notional per night (negative = paid)
    swap_short: torch.Tensor  # [N]
    margin_rate: torch.Tensor  # [N]
    usd_base: torch.Tensor  # [N] bool
    specialist_onehot: torch.Tensor  # [N, S] float64
    slippage: float  # fraction of notional per side
    cost_multiplier: float
    stop_out_level: float
    rebalance_band: float  # fraction of equity below which an order is not sent
    metric_alpha: float  # EWMA weight of the specialist metrics

    @classmethod
    def build(
        cls,
        universe: InstrumentUniverse,
        *,
        slippage_bps: float,
        cost_multiplier: float,
        stop_out_level: float,
        rebalance_band: float = 0.0,
        metrics_window: int = 20,
        device: torch.device | str = "cpu",
    ) -> KernelParams:
        terms = universe.terms(device=device)
        spec_idx = universe.specialist_index(device)
        onehot = torch.nn.functional.one_hot(spec_idx, len(universe.specialists)).double()
        return cls(
            commission=terms["commission"],
            swap_long=terms["swap_long"],
            swap_short=terms["swap_short"],
            margin_rate=terms["margin_rate"],
            usd_base=terms["usd_base"],
            specialist_onehot=onehot,
            slippage=slippage_bps * 1e-4,
            cost_multiplier=cost_multiplier,
            stop_out_level=stop_out_level,
            rebalance_band=rebalance_band,
            metric_alpha=2.0 / (metrics_window + 1.0),
        )

    @classmethod
    def from_config(
        cls,
        universe: InstrumentUniverse,
        env_cfg: EnvConfig,
        risk_cfg: RiskConfig,
        device: torch.device | str = "cpu",
    ) -> KernelParams:
        """The env's, the paper broker's and the bench's parameters, from the same config keys."""
        return cls.build(
            universe,
            slippage_bps=env_cfg.slippage_bps,
            cost_multiplier=env_cfg.cost_multiplier,
            stop_out_level=risk_cfg.stop_out_level,
            rebalance_band=env_cfg.rebalance_band,
            metrics_window=env_cfg.metrics_window,
            device=device,
        )


@dataclass(frozen=True)
class MarketTape:
    """Rows the kernel reads: ``close``, ``fill_price``, swap nights and half spreads ``[T, N]``."""

    close: torch.Tensor  # [T, N] float64
    fill_price: torch.Tensor  # [T, N] float64
    nights: torch.Tensor  # [T, N] float64: swap days charged for the night after row t (1 or 3)
    half_spread: torch.Tensor  # [T, N] float64 price units: half the spread a fill on row t pays

    @classmethod
    def build(
        cls,
        close: torch.Tensor,
        fill_price: torch.Tensor,
        weekdays: torch.Tensor,
        universe: InstrumentUniverse,
        spread: torch.Tensor | None = None,
        has_spread: torch.Tensor | None = None,
    ) -> MarketTape:
        """``weekdays [T]`` (Mon = 0) of each row; triple swap on each instrument's rollover day.

        ``half_spread[t, n]`` is ``0.5 * spread[t, n]`` (the data's quoted spread of that bar,
        price units) where ``has_spread[n]`` and the quote is positive, else half the instrument
        table's constant ``spread``. ``spread`` None: no instrument quotes one (the table everywhere).
        """
        dev = close.device
        terms = universe.terms(device=dev)
        nights = torch.where(
            weekdays.to(dev)[:, None] == terms["triple_swap_weekday"][None, :], 3.0, 1.0
        )
        table = (0.5 * terms["spread"]).expand_as(close)
        if spread is None:
            half = table.clone()
        else:
            if spread.shape != close.shape:
                raise DataError(
                    f"market tape: spread has shape {tuple(spread.shape)}, close "
                    f"{tuple(close.shape)}; expected one quoted spread per bar [T, N]"
                )
            quoted = (
                torch.ones(close.shape[1], dtype=torch.bool, device=dev)
                if has_spread is None
                else has_spread.to(device=dev, dtype=torch.bool)
            )
            # a quote of 0 is "not recorded" in MT5 exports (a free fill would flatter every
            # backtest): such bars pay the table's spread
            bar = spread.to(dev).double()
            half = torch.where(quoted[None, :] & (bar > 0), 0.5 * bar, table)
        return cls(
            close=close.double(),
            fill_price=fill_price.double(),
            nights=nights.double(),
            half_spread=half.double(),
        )

    @classmethod
    def from_features(
        cls, features: FeatureSet, universe: InstrumentUniverse, device: torch.device | str = "cpu"
    ) -> MarketTape:
        """The tape of a :class:`FeatureSet` (weekdays from its dates) on ``device``."""
        weekdays = torch.tensor(list(features.dates.day_of_week), dtype=torch.long)
        return cls.build(
            features.close.to(device),
            features.fill_price.to(device),
            weekdays,
            universe,
            spread=features.spread.to(device),
            has_spread=features.has_spread.to(device),
        )


@dataclass
class StepBreakdown:
    """What one step did, per account ``[B]`` and instrument ``[B, N]`` (USD, positive = paid)."""

    pnl: torch.Tensor  # [B, N] price P&L (overnight + intraday legs, before costs)
    spread_cost: torch.Tensor  # [B, N]
    commission: torch.Tensor  # [B, N]
    slippage: torch.Tensor  # [B, N]
    swap: torch.Tensor  # [B, N] financing paid (negative = received)
    traded_notional: torch.Tensor  # [B, N] USD notional of fills (incl. a margin-call close-out)
    orders: torch.Tensor  # [B, N] bool, an order was sent at the t+1 fill
    margin_call: torch.Tensor  # [B] bool
    equity_before: torch.Tensor  # [B]
    specialist_return: torch.Tensor  # [B, S] net P&L of each specialist's instruments / equity_t

    @property
    def costs(self) -> torch.Tensor:
        """Total costs ``[B, N]``: spread + commission + slippage + swap."""
        return self.spread_cost + self.commission + self.slippage + self.swap


def target_units(
    weights: torch.Tensor, equity: torch.Tensor, close: torch.Tensor, usd_base: torch.Tensor
) -> torch.Tensor:
    """Units ``[B, N]`` worth ``weights * equity`` USD at the decision-time ``close [B, N]``."""
    return weights.double() * equity[:, None] / usd_per_unit(close, usd_base)


def position_weights(
    units: torch.Tensor, equity: torch.Tensor, close: torch.Tensor, usd_base: torch.Tensor
) -> torch.Tensor:
    """Signed USD notional / equity ``[B, N]`` of ``units`` at ``close``."""
    return units * usd_per_unit(close, usd_base) / equity.clamp_min(1e-12)[:, None]


def order_mask(
    delta_units: torch.Tensor,
    equity: torch.Tensor,
    close: torch.Tensor,
    usd_base: torch.Tensor,
    rebalance_band: float,
) -> torch.Tensor:
    """``[B, N]`` bool: the order ``delta_units`` is large enough to be sent (see module doc)."""
    threshold = max(rebalance_band, MIN_ORDER_FRACTION) * equity[:, None]
    return delta_units.abs() * usd_per_unit(close, usd_base) > threshold


def step_kernel(
    state: KernelState, target: torch.Tensor, tape: MarketTape, params: KernelParams
) -> tuple[KernelState, StepBreakdown]:
    """Advance every account one day toward ``target`` units ``[B, N]`` (see the module doc)."""
    t0 = state.t
    t1 = t0 + 1
    c0, pf, c1 = tape.close[t0], tape.fill_price[t1], tape.close[t1]
    usd_base, cm = params.usd_base, params.cost_multiplier
    u0, eq0 = state.units, state.equity

    send = order_mask(target - u0, eq0, c0, usd_base, params.rebalance_band)
    u1 = torch.where(send, target.double(), u0)
    du = (u1 - u0).abs()

    pnl = pnl_usd(u0, c0, pf, usd_base) + pnl_usd(u1, pf, c1, usd_base)
    swap = swap_charge(u0, c0, tape.nights[t0], params.swap_long, params.swap_short, usd_base, cm)
    hs1 = tape.half_spread[t1]  # [B, N] the spread quoted on the fill row
    spread, comm, slip = fill_costs(du, pf, hs1, params.commission, params.slippage, usd_base, cm)
    traded = du * usd_per_unit(pf, usd_base)
    eq1 = eq0 + (pnl - spread - comm - slip - swap).sum(-1)

    # margin call at close[t+1]: close everything, pay the close-out, floor equity at 0
    upu1 = usd_per_unit(c1, usd_base)
    used = (u1.abs() * upu1 * params.margin_rate).sum(-1)
    call = (eq1 <= 0) | (eq1 < params.stop_out_level * used)
    held = u1.abs() * call[:, None]
    co_spread, co_comm, co_slip = fill_costs(
        held, c1, hs1, params.commission, params.slippage, usd_base, cm
    )
    spread, comm, slip = spread + co_spread, comm + co_comm, slip + co_slip
    traded = traded + held * upu1
    eq1 = eq1 - (co_spread + co_comm + co_slip).sum(-1)
    eq1 = torch.where(call, eq1.clamp_min(0.0), eq1)
    u_final = torch.where(call[:, None], torch.zeros_like(u1), u1)

    # average entry price: new legs at the fill, adds averaged, reductions keep it
    same_side = (torch.sign(u1) == torch.sign(u0)) & (u0 != 0)
    grow = same_side & (u1.abs() > u0.abs())
    blended = (u0.abs() * state.entry_price + (u1.abs() - u0.abs()) * pf) / u1.abs().clamp_min(
        1e-300
    )
    entry = torch.where(same_side, torch.where(grow, blended, state.entry_price), pf)
    entry = torch.where(u_final == 0, torch.zeros_like(entry), entry)

    # agent-facing history: portfolio returns, drawdown peak, specialist metrics
    safe_eq0 = eq0.clamp_min(1e-12)
    ret = eq1 / safe_eq0 - 1.0
    net = pnl - spread - comm - slip - swap  # [B, N]
    spec_ret = (net @ params.specialist_onehot) / safe_eq0[:, None]  # [B, S]
    a = params.metric_alpha
    new_state = KernelState(
        units=u_final,
        equity=eq1,
        entry_price=entry,
        t=t1,
        peak_equity=torch.maximum(state.peak_equity, eq1),
        returns=torch.cat([state.returns[:, 1:], ret[:, None]], dim=1),
        spec_m1=(1 - a) * state.spec_m1 + a * spec_ret,
        spec_m2=(1 - a) * state.spec_m2 + a * spec_ret.square(),
        spec_hit=(1 - a) * state.spec_hit + a * (spec_ret > 0).double(),
    )
    breakdown = StepBreakdown(
        pnl=pnl,
        spread_cost=spread,
        commission=comm,
        slippage=slip,
        swap=swap,
        traded_notional=traded,
        orders=send,
        margin_call=call,
        equity_before=eq0,
        specialist_return=spec_ret,
    )
    return new_state, breakdown


def specialist_metrics(state: KernelState) -> torch.Tensor:
    """``[B, 3 S]`` per specialist: EWMA daily return (%), annualised Sharpe (clipped to +-10),
    hit rate; interleaved ``(ret_0, sharpe_0, hit_0, ret_1, ...)`` as in the portfolio layout."""
    var = (state.spec_m2 - state.spec_m1.square()).clamp_min(0.0)
    sharpe = (state.spec_m1 / (var.sqrt() + 1e-8) * 252**0.5).clamp(-10.0, 10.0)
    stacked = torch.stack([state.spec_m1 * 100.0, sharpe, state.spec_hit], dim=-1)
    return stacked.reshape(state.spec_m1.shape[0], SPECIALIST_METRICS * state.spec_m1.shape[1])
