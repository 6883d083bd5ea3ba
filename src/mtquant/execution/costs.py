"""Execution costs and P&L of a CFD / FX account, in USD, vectorised over ``[B, N]``.

Conventions (one place, used by the env, the paper broker and the benchmark kernel):

* Positions are held in units of the base asset; USD notional is ``units * price`` for
  USD-quoted instruments and ``units`` for USD-based ones (USDJPY), see
  :func:`mtquant.instruments.usd_per_unit`.
* P&L of ``units`` from ``p0`` to ``p1``: ``units * (p1 - p0)`` when USD is the quote currency,
  ``units * (1 - p0 / p1)`` when USD is the base (the quote-currency P&L converted at ``p1``).
* Fills are at the mid price; every fill pays half the spread quoted on the fill's bar (price
  units, so ``0.5 * spread * |dU|`` USD for USD-quoted and ``0.5 * spread * |dU| / price`` for
  USD-based; the kernel passes ``MarketTape.half_spread[t]``: the data's per-bar spread, else the
  instrument table's), commission and slippage (fractions of USD notional), all times
  ``cost_multiplier``.
* Swap (financing) is charged on the position held overnight, as a fraction of its USD notional at
  the close: ``swap_long`` for longs, ``swap_short`` for shorts, negative = the account pays.
  One business-day step charges one day; the instrument's ``triple_swap_weekday`` charges three
  (the weekend's rollover). Every cost tensor is positive when the account pays; a swap can be
  negative (income).
"""

from __future__ import annotations

import torch

from mtquant.instruments import usd_per_unit


def pnl_usd(
    units: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor, usd_base: torch.Tensor
) -> torch.Tensor:
    """USD P&L ``[B, N]`` of holding ``units`` while the price moves from ``p0`` to ``p1``."""
    return torch.where(usd_base, units * (1.0 - p0 / p1), units * (p1 - p0))


def fill_costs(
    abs_units: torch.Tensor,
    price: torch.Tensor,
    half_spread: torch.Tensor,
    commission: torch.Tensor,
    slippage: float,
    usd_base: torch.Tensor,
    cost_multiplier: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(spread, commission, slippage) in USD ``[B, N]`` of filling ``abs_units`` at ``price``.

    ``half_spread`` is in price units, one row per account ``[B, N]`` (the spread quoted on the
    fill's bar) or anything broadcasting to it (``[N]``, ``[1, N]``); ``commission`` a fraction
    of notional ``[N]``; ``slippage`` a fraction of notional (scalar).
    """
    notional = abs_units * usd_per_unit(price, usd_base)
    spread_usd = torch.where(usd_base, half_spread * abs_units / price, half_spread * abs_units)
    return (
        spread_usd * cost_multiplier,
        notional * (commission * cost_multiplier),
        notional * (slippage * cost_multiplier),
    )


def swap_charge(
    units: torch.Tensor,
    close: torch.Tensor,
    nights: torch.Tensor,
    swap_long: torch.Tensor,
    swap_short: torch.Tensor,
    usd_base: torch.Tensor,
    cost_multiplier: float,
) -> torch.Tensor:
    """Financing paid ``[B, N]`` (USD, positive = paid) for holding ``units`` over ``nights``.

    ``nights`` is ``[B, N]`` (1, or 3 on the instrument's rollover weekday); the rates are signed
    fractions of notional per night with negative = the account pays.
    """
    rate = torch.where(units > 0, swap_long, swap_short)
    notional = units.abs() * usd_per_unit(close, usd_base)
    return -(rate * notional * nights) * cost_multiplier
