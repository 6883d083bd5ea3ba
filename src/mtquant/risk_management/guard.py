"""The risk guard between every decision and the market: limits, circuit breaker, pre-trade gate.

One function, :func:`guard_book`, takes a proposed book to the book that executes, for a batch of
``B`` accounts; the TorchRL risk transform (training, backtests) and
:meth:`HierarchicalTradingSystem.step` (paper and live trading) both call it, so they decide the
same way on the same inputs. In order:

1. :func:`~mtquant.risk_management.limits.enforce_limits`: correlation, sector, gross, position,
   margin and VaR limits (scaling only shrinks, never flips a sign);
2. the **circuit breaker** (:func:`breaker_step`): before the decision it looks at the account
   (drawdown from its peak beyond ``risk.max_drawdown``; ``risk.breaker_var_streak`` consecutive
   days whose loss exceeded the ex-ante VaR of the book held; a correlation spike of the
   market, :func:`~mtquant.risk_management.correlation_tracker.correlation_regime`). A trip starts a cool-down of
   ``risk.breaker_cooldown_days`` decisions during which every target is multiplied by
   ``risk.breaker_scale`` (``breaker_response=flatten``: by 0);
3. the **pre-trade gate** (:func:`gate_orders`): an order (a leg whose target weight differs
   from the current one by more than the execution's order floor, ``max(env.rebalance_band,
   MIN_ORDER_WEIGHT)``: smaller changes are not sent) is refused, and the leg keeps its current
   weight, when the instrument has no price for that bar (no bar on the decision day or on the
   fill day: the market is shut), when its price is outside ``risk.price_band`` of the last
   price (live quotes; in the simulation the order is priced at the last close), or when it
   adds exposure to a book beyond the position, gross-leverage or margin limits. Orders that
   reduce exposure always pass, so a book the limits made compliant, executed reducing orders
   first, is never refused for size (every intermediate book is within the limits the whole
   book meets); the size checks allow the order floor per leg, the most by which the legs
   left unsent can differ from that book.

Reason codes of the gate are :data:`PRE_TRADE_REASONS`; trigger codes of the breaker
:data:`ALERTS`. The VaR recorded for the breaker's next breach test (and reported as the
ex-ante forecast) is that of the book that executes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from mtquant.config.risk import RiskConfig
from mtquant.risk_management.limits import (
    RiskDiagnostics,
    RiskLimits,
    book_tail,
    enforce_limits,
)
from mtquant.risk_management.var_models import VarInputs

PRE_TRADE_REASONS = ("ok", "no_price", "price_band", "position_size", "leverage", "margin")
ALERTS = ("none", "drawdown", "var_streak", "correlation_spike")  # breaker trigger codes
MIN_ORDER_WEIGHT = 1e-6  # |target - current| weight below this is no order (the kernel's floor)
_LIMIT_RTOL = 1e-9  # a book the limits scaled to a bound is within it up to rounding


@dataclass(frozen=True)
class GuardRules:
    """The breaker's and the gate's settings (from :class:`RiskConfig`)."""

    max_drawdown: float
    var_streak: int
    on_correlation_spike: bool
    response_scale: float  # target multiplier while the breaker is on (0 = flatten)
    cooldown_days: int
    price_band: float
    max_position_weight: float
    max_gross_leverage: float
    max_margin_usage: float
    min_order: float = MIN_ORDER_WEIGHT  # |weight change| below this is not sent (no order)

    @classmethod
    def from_config(cls, risk: RiskConfig, rebalance_band: float = 0.0) -> GuardRules:
        """The rules of ``risk``; ``rebalance_band`` (``env.rebalance_band``) sets the order floor."""
        return cls(
            max_drawdown=risk.max_drawdown,
            var_streak=risk.breaker_var_streak,
            on_correlation_spike=risk.breaker_on_correlation_spike,
            response_scale=0.0 if risk.breaker_response == "flatten" else risk.breaker_scale,
            cooldown_days=risk.breaker_cooldown_days,
            price_band=risk.price_band,
            max_position_weight=risk.max_position_weight,
            max_gross_leverage=risk.max_gross_leverage,
            max_margin_usage=risk.max_margin_usage,
            min_order=max(rebalance_band, MIN_ORDER_WEIGHT),
        )


@dataclass
class BreakerState:
    """What the breaker remembers per account ``[B]`` between decisions."""

    peak: torch.Tensor  # float64 peak equity seen at decisions (NaN before the first)
    last_equity: torch.Tensor  # float64 equity at the previous decision (NaN before the first)
    last_var: torch.Tensor  # float64 ex-ante VaR of the book held since the previous decision
    streak: torch.Tensor  # int64 consecutive days whose loss exceeded that VaR
    cooldown: torch.Tensor  # int64 decisions the response still lasts (0 = off)

    @classmethod
    def fresh(cls, batch: int, device: torch.device | str = "cpu") -> BreakerState:
        nan = torch.full((batch,), float("nan"), dtype=torch.float64, device=device)
        zeros = torch.zeros(batch, dtype=torch.long, device=device)
        return cls(nan, nan.clone(), torch.zeros_like(nan), zeros, zeros.clone())

    def where(self, mask: torch.Tensor, other: BreakerState) -> BreakerState:
        """Rows of ``other`` where ``mask [B]`` is True (accounts that restart), else these."""
        return BreakerState(
            *(
                torch.where(mask, getattr(other, f.name), getattr(self, f.name))
                for f in fields(self)
            )
        )


def breaker_step(
    state: BreakerState, equity: torch.Tensor, spike: torch.Tensor, rules: GuardRules
) -> tuple[BreakerState, torch.Tensor, torch.Tensor]:
    """``(state, alert [B] int64, active [B] bool)`` at a decision, from the account's ``equity
    [B]`` now and the market's correlation ``spike [B]`` (module doc).

    ``alert`` is the code of the trigger that fires now (:data:`ALERTS`; the first of drawdown,
    VaR streak, correlation spike), 0 when none; ``active``: the response is in force for this
    decision (a trip now, or a cool-down still running).
    """
    equity = equity.to(torch.float64)
    peak = torch.fmax(state.peak, equity)  # NaN (first decision) -> equity
    ret = equity / state.last_equity - 1.0  # NaN on the first decision: no breach
    breach = ret < -state.last_var
    streak = torch.where(breach, state.streak + 1, torch.zeros_like(state.streak))
    drawdown = 1.0 - equity / peak.clamp_min(1e-12)
    fired = torch.stack(
        [
            drawdown > rules.max_drawdown,
            streak >= rules.var_streak,
            spike.to(torch.bool) & rules.on_correlation_spike,
        ]
    )  # [3, B]
    any_fired = fired.any(0)
    first = fired.to(torch.long).argmax(0) + 1  # the first trigger that fired
    alert = torch.where(any_fired, first, torch.zeros_like(first))
    cooldown = torch.where(any_fired, rules.cooldown_days, (state.cooldown - 1).clamp_min(0))
    streak = torch.where(fired[1], torch.zeros_like(streak), streak)  # a new streak is needed
    new = BreakerState(peak, equity, state.last_var, streak, cooldown)
    return new, alert, cooldown > 0


def gate_orders(
    current: torch.Tensor,
    target: torch.Tensor,
    tradable: torch.Tensor,
    margin_rate: torch.Tensor,
    rules: GuardRules,
    order_price: torch.Tensor | None = None,
    last_price: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(executed [B, N], reason [B, N] int64)``: ``target`` with refused orders kept at
    ``current`` (weights: signed notional / equity) and each leg's reason code (0 = passed or
    no order; :data:`PRE_TRADE_REASONS`). See the module doc for the rules and their order."""
    current, floor = current.to(target.dtype), rules.min_order
    order = (target - current).abs() > floor
    reason = torch.zeros(target.shape, dtype=torch.long, device=target.device)
    if not bool(order.any()):  # nothing to send: nothing to refuse
        return target, reason
    reason.masked_fill_(order & ~tradable.to(torch.bool), 1)
    if order_price is not None and last_price is not None:
        off = (order_price / last_price - 1.0).abs() > rules.price_band
        reason.masked_fill_(order & (reason == 0) & off, 2)
    refused = bool(reason.any())
    book = torch.where(reason > 0, current, target) if refused else target
    magnitude = book.abs()
    adds = order & (magnitude > current.abs())  # orders that add exposure (or were refused)
    if refused:
        adds &= reason == 0
    n = target.shape[-1]
    gross_cap = rules.max_gross_leverage * (1.0 + _LIMIT_RTOL) + n * floor
    margin_cap = rules.max_margin_usage * (1.0 + _LIMIT_RTOL) + float(margin_rate.sum()) * floor
    position_cap = rules.max_position_weight * (1.0 + _LIMIT_RTOL) + floor
    within = (
        ~(adds & (magnitude > position_cap)).any()
        & (magnitude.sum(-1) <= gross_cap).all()
        & ((magnitude * margin_rate).sum(-1) <= margin_cap).all()
    )
    if bool(within):  # the common case: every limit holds for the book after the orders
        return book, reason
    adds = order & (reason == 0) & (book.abs() > current.abs())
    reason.masked_fill_(adds & (book.abs() > position_cap), 3)
    book = torch.where(reason > 0, current, target)
    for code in (4, 5):  # leverage, then margin: refuse every adding order of a book beyond
        size = book.abs()
        beyond = (
            size.sum(-1) > gross_cap if code == 4 else (size * margin_rate).sum(-1) > margin_cap
        )
        adds = order & (reason == 0) & (size > current.abs())
        reason.masked_fill_(adds & beyond[:, None], code)
        book = torch.where(reason > 0, current, target)
    return book, reason


@dataclass
class Guarded:
    """What :func:`guard_book` decided for each account."""

    executed: torch.Tensor  # [B, N] the book that executes
    diagnostics: RiskDiagnostics  # enforce_limits' (proposed and limit-compliant books)
    executed_var: torch.Tensor  # [B] ex-ante VaR of the executed book
    executed_es: torch.Tensor  # [B] its ex-ante Expected Shortfall (same model and confidence)
    executed_var99: torch.Tensor  # [B] its ex-ante VaR at 99%
    alert: torch.Tensor  # [B] int64 breaker trigger code (ALERTS)
    breaker_on: torch.Tensor  # [B] bool the breaker's response was applied
    reasons: torch.Tensor  # [B, N] int64 pre-trade reason codes (PRE_TRADE_REASONS)
    state: BreakerState  # the breaker's state after this decision


def guard_book(
    proposed: torch.Tensor,
    cov: torch.Tensor,
    current: torch.Tensor,
    equity: torch.Tensor,
    tradable: torch.Tensor,
    spike: torch.Tensor,
    state: BreakerState,
    limits: RiskLimits,
    rules: GuardRules,
    order_price: torch.Tensor | None = None,
    last_price: torch.Tensor | None = None,
    var_inputs: VarInputs | None = None,
) -> Guarded:
    """Limits, breaker and gate on ``proposed [B, N]`` (module doc), in ``proposed``'s dtype.

    ``cov [B, N, N]``: the covariance of daily returns the limits use; ``current [B, N]``: the
    weights held; ``equity [B]``; ``tradable [B, N]``: a price exists on the decision and the fill
    bar; ``spike [B]``: the market's correlation spike today; ``var_inputs``: the enforced VaR
    model's inputs (``risk.var_method`` other than ``parametric``).
    """
    compliant, diag = enforce_limits(proposed, cov, limits, var_inputs)
    state, alert, on = breaker_step(state, equity, spike, rules)
    braked = compliant
    tail = [diag.executed_var, diag.executed_es, diag.executed_var99]
    if bool(on.any()):  # the models are homogeneous: the breaker's scale scales them
        ones = torch.ones(on.shape, dtype=compliant.dtype, device=compliant.device)
        multiplier = torch.where(on, ones * rules.response_scale, ones)
        braked = compliant * multiplier[:, None]
        tail = [x * multiplier for x in tail]
    lim = limits.for_tensor(braked)
    executed, reasons = gate_orders(
        current, braked, tradable, lim.margin_rate, rules, order_price, last_price
    )
    gated = (reasons > 0).any(-1)
    if bool(gated.any()):  # a refused order kept a leg: measure the books that execute
        rows = gated.nonzero().squeeze(-1)
        sub_cov = cov if cov.ndim == 2 else cov.index_select(0, rows)
        sub_inputs = None if var_inputs is None else _select(var_inputs, rows)
        measured = book_tail(executed.index_select(0, rows), sub_cov, limits, sub_inputs)
        tail = [x.index_copy(0, rows, m) for m, x in zip(measured, tail, strict=True)]
    var, es, var99 = tail
    state = BreakerState(state.peak, state.last_equity, var, state.streak, state.cooldown)
    return Guarded(executed, diag, var, es, var99, alert, on, reasons, state)


def _select(inputs: VarInputs, rows: torch.Tensor) -> VarInputs:
    """The VaR inputs of the accounts ``rows`` (a shared ``[N, N]`` covariance stays shared)."""

    def pick(x: torch.Tensor | None, per_book_ndim: int) -> torch.Tensor | None:
        return x if x is None or x.ndim < per_book_ndim else x.index_select(0, rows)

    return VarInputs(pick(inputs.cov, 3), pick(inputs.scenarios, 3), pick(inputs.scale, 2))
