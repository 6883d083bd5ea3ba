"""Specialists' domain features (plan Tasks 1.3, 2.1, 2.2), computed from prices and dates only.

Rates, P/E ratios, CPI, inventories and news are not in the data, so each plan input is a NAMED
proxy documented below. Each function takes a whole :class:`MarketData` (any subset of the
8 instruments) and returns raw float64 ``[T, D]`` values, causal (row ``t`` uses rows ``<= t``),
NaN while a lookback (at most :data:`DOMAIN_LOOKBACK` rows) is incomplete. A component whose
symbols are missing holds a documented neutral value (0, or 50 for ``fear_greed``) and
:func:`domain_notes` says so; nothing is random and no constant poses as a signal.
:func:`mtquant.features.compute_features` z-scores these on the training split.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from mtquant.data.market_data import MarketData
from mtquant.features import calendar, proxies
from mtquant.features.proxies import COMMODITIES, EQUITY_INDICES, FX_PAIRS, USD_SIGN
from mtquant.features.rolling import (
    capped_expanding_mean,
    lag,
    rolling_corr,
    rolling_mean,
    wilder,
)

log = logging.getLogger(__name__)

DOMAIN_LOOKBACK = 252  # longest lookback of any domain feature, rows

FOREX_FEATURES: list[str] = [
    "dollar_index_proxy",  # log(DXY proxy / its 252-day mean)
    "dollar_momentum_20",  # 20-day log change of the DXY proxy
    "carry_proxy",  # annualised 60-day drift of USDJPY (US-JP rate-spread proxy)
    "carry_signal",  # tanh(carry_proxy / annualised 60-day vol of USDJPY), in [-1, 1]
    "fx_volatility_index",  # mean ATR(14) / close of the pairs, percent
    "fx_correlation_regime",  # mean pairwise 60-day correlation of USD-oriented pair returns
    "month_end_flag",  # 1 quarter end, 0.5 month end, else 0 (last business day)
    "days_to_fomc_estimate",  # days to the next estimated FOMC decision (calendar rule)
]
COMMODITIES_FEATURES: list[str] = [
    "inflation_proxy",  # 252-day log change of the equal-weight gold+oil basket
    "fear_proxy",  # annualised 20-day basket vol x equity 252-day drawdown
    "oil_supply_demand",  # log(WTI / its 252-day mean): inventory-cycle proxy
    "commodity_index",  # log(gold+oil basket / its 60-day mean)
    "gold_dollar_corr",  # 60-day correlation of gold and DXY-proxy daily log returns
    "oil_seasonality",  # cos(2 pi (doy - 196) / 365.25): driving-season phase
]
EQUITY_FEATURES: list[str] = [
    "valuation_proxy",  # log(SPX / its mean over up to 5 years, at least 1)
    "earnings_season_phase",  # calendar rule, in [0, 1]
    "fed_trajectory_proxy",  # 60-day log change of the DXY proxy
    "equity_volatility",  # VIX proxy: annualised 20-day realised vol of SPX, points
    "breadth",  # fraction of equity indices above their 50-day mean
    "risk_on_off",  # equity 20-day momentum minus safe-haven (gold, JPY) strength
    "fear_greed",  # 0 (fear) .. 100 (greed): momentum, volatility and breadth
]

# Already bounded in [-1, 1] (flags, phases, correlations, signals): only clipped when normalised.
DOMAIN_RAW: frozenset[str] = frozenset({
    "carry_signal", "fx_correlation_regime", "month_end_flag", "gold_dollar_corr",
    "oil_seasonality", "earnings_season_phase", "breadth",
})  # fmt: skip


def _or_neutral(x: torch.Tensor | None, t_len: int, value: float = 0.0) -> torch.Tensor:
    return torch.full((t_len,), value, dtype=torch.float64) if x is None else x.double()


def _stack(cols: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(cols, dim=1)


def _atr_pct(data: MarketData, symbols: list[str]) -> torch.Tensor:
    """``[T, K]`` Wilder ATR(14) / close in percent. For close-only series the true range reduces
    to ``|C[t] - C[t-1]|``, a close-to-close proxy (no high-low range is invented)."""
    idx = [data.symbols.index(s) for s in symbols]
    h, lo = data.field("high")[:, idx].double(), data.field("low")[:, idx].double()
    c = data.close[:, idx].double()
    cp = lag(c, 1)
    tr = torch.maximum(h - lo, torch.maximum((h - cp).abs(), (lo - cp).abs()))
    return 100.0 * wilder(tr, 14, start=1) / c


def forex_features(data: MarketData) -> torch.Tensor:
    """``[T, 8]`` :data:`FOREX_FEATURES`.

    The dollar index is :func:`proxies.dollar_index_proxy` (ICE DXY weights renormalised over
    EURUSD, GBPUSD, USDJPY). The rate spread is proxied by USDJPY's drift
    (:func:`proxies.carry_proxy`); the carry signal is its risk-adjusted, tanh-squashed value.
    Calendar features come from :mod:`mtquant.features.calendar`. Neutral 0 for components whose
    pairs are missing (correlation regime: fewer than 2 pairs).
    """
    t_len = data.n_days
    pairs = proxies.present(data, FX_PAIRS)
    dxy = proxies.dollar_index(data)
    ldxy = None if dxy is None else torch.log(dxy)
    level = None if dxy is None else torch.log(dxy / rolling_mean(dxy, 252))
    mom = None if ldxy is None else proxies.log_change(ldxy, 20)
    carry = proxies.carry_proxy(data, 60)
    signal = None
    if carry is not None:
        jpy = torch.log(proxies.closes(data, ["USDJPY"])[:, 0])
        ann_vol = proxies.realised_vol(jpy, 60) * 252.0**0.5
        signal = torch.tanh(carry / ann_vol.clamp_min(1e-8))
    fx_vol = _atr_pct(data, pairs).mean(dim=1) if pairs else None
    corr = None
    if len(pairs) >= 2:
        sign = torch.tensor([USD_SIGN[s] for s in pairs], dtype=torch.float64)
        r = proxies.log_change(torch.log(proxies.closes(data, pairs)), 1) * sign
        iu = torch.triu_indices(len(pairs), len(pairs), offset=1)
        corr = rolling_corr(r[:, iu[0]], r[:, iu[1]], 60).mean(dim=1)
    return _stack(
        [
            _or_neutral(level, t_len),
            _or_neutral(mom, t_len),
            _or_neutral(carry, t_len),
            _or_neutral(signal, t_len),
            _or_neutral(fx_vol, t_len),
            _or_neutral(corr, t_len),
            calendar.month_end_flag(data.dates),
            calendar.days_to_fomc_estimate(data.dates),
        ]
    )


def commodities_features(data: MarketData) -> torch.Tensor:
    """``[T, 6]`` :data:`COMMODITIES_FEATURES`.

    Basket = equal-weight geometric basket of XAUUSD and WTIUSD (those present). Inflation proxy:
    its 1-year log change. Fear (geopolitical) proxy: the basket's annualised 20-day realised
    vol times the equity reference's (SPX500, else NAS100/US30) 252-day drawdown. Supply-demand
    proxy (no term structure or inventories in the data): WTI's log deviation from its 1-year
    mean. Gold-dollar: 60-day correlation of gold with :func:`proxies.dollar_index_proxy`.
    """
    t_len = data.n_days
    basket = proxies.log_basket(data, COMMODITIES)
    inflation = None if basket is None else proxies.log_change(basket, 252)
    eq = proxies.equity_reference(data)
    fear = None
    if basket is not None and eq is not None:
        fear = proxies.realised_vol(basket, 20) * 252.0**0.5 * proxies.drawdown(eq, 252)
    supply = None
    if "WTIUSD" in data.symbols:
        wti = proxies.closes(data, ["WTIUSD"])[:, 0]
        supply = torch.log(wti / rolling_mean(wti, 252))
    index = None if basket is None else basket - torch.log(rolling_mean(torch.exp(basket), 60))
    gold_dollar = None
    dxy = proxies.dollar_index(data)
    if "XAUUSD" in data.symbols and dxy is not None:
        gold = torch.log(proxies.closes(data, ["XAUUSD"])[:, 0])
        gold_dollar = rolling_corr(
            proxies.log_change(gold, 1), proxies.log_change(torch.log(dxy), 1), 60
        )
    return _stack(
        [
            _or_neutral(inflation, t_len),
            _or_neutral(fear, t_len),
            _or_neutral(supply, t_len),
            _or_neutral(index, t_len),
            _or_neutral(gold_dollar, t_len),
            calendar.oil_seasonality(data.dates),
        ]
    )


def equity_breadth(data: MarketData) -> torch.Tensor | None:
    """``[T]`` fraction of the equity indices present whose close is above its 50-day mean."""
    syms = proxies.present(data, EQUITY_INDICES)
    if not syms:
        return None
    c = proxies.closes(data, syms)
    sma = rolling_mean(c, 50)
    above = (c > sma).double()
    return torch.where(torch.isnan(sma).any(dim=1), torch.nan, above.mean(dim=1))


def risk_on_off(data: MarketData) -> torch.Tensor | None:
    """``[T]`` equity reference 20-day log change minus the mean 20-day strength of the safe
    havens present (gold: its log change; JPY: minus USDJPY's log change). A missing side
    counts 0; None when both are missing."""
    eq = proxies.equity_reference(data)
    havens = []
    if "XAUUSD" in data.symbols:
        havens.append(proxies.log_change(torch.log(proxies.closes(data, ["XAUUSD"])[:, 0]), 20))
    if "USDJPY" in data.symbols:
        havens.append(-proxies.log_change(torch.log(proxies.closes(data, ["USDJPY"])[:, 0]), 20))
    if eq is None and not havens:
        return None
    eq_mom = proxies.log_change(eq, 20) if eq is not None else 0.0
    haven = torch.stack(havens, dim=1).mean(dim=1) if havens else 0.0
    return eq_mom - haven  # type: ignore[return-value]


def equity_features(data: MarketData) -> torch.Tensor:
    """``[T, 7]`` :data:`EQUITY_FEATURES`.

    Valuation proxy (no P/E in the data): log of the equity reference over its mean of the last
    ``min(t + 1, 1260)`` days (at least 252). Fed trajectory proxy (no rates or bonds): the DXY
    proxy's 60-day log change (a dollar rallying on expected tightening). VIX proxy: annualised
    20-day realised vol x 100. Fear/greed in [0, 100]: ``50 (1 + mean(m, v, b))`` with momentum
    ``m = tanh(log(P / SMA125) / (vol20 sqrt 125))``, volatility ``v = -tanh(log(vol20 /
    vol252))`` and breadth ``b = 2 breadth - 1``; neutral 50 without equity indices.
    """
    t_len = data.n_days
    eq = proxies.equity_reference(data)
    valuation = vix = greed = None
    if eq is not None:
        p = torch.exp(eq)
        valuation = torch.log(p / capped_expanding_mean(p, 1260, 252))
        vol20 = proxies.realised_vol(eq, 20)
        vix = 100.0 * vol20 * 252.0**0.5
        m = torch.tanh(torch.log(p / rolling_mean(p, 125)) / (vol20 * 125.0**0.5).clamp_min(1e-8))
        v = -torch.tanh(
            torch.log(vol20.clamp_min(1e-8) / proxies.realised_vol(eq, 252).clamp_min(1e-8))
        )
    dxy = proxies.dollar_index(data)
    fed = None if dxy is None else proxies.log_change(torch.log(dxy), 60)
    breadth = equity_breadth(data)
    if eq is not None and breadth is not None:
        greed = 50.0 * (1.0 + (m + v + (2.0 * breadth - 1.0)) / 3.0)
    return _stack(
        [
            _or_neutral(valuation, t_len),
            calendar.earnings_season_phase(data.dates),
            _or_neutral(fed, t_len),
            _or_neutral(vix, t_len),
            _or_neutral(breadth, t_len),
            _or_neutral(risk_on_off(data), t_len),
            _or_neutral(greed, t_len, 50.0),
        ]
    )


DOMAIN_FEATURES: dict[str, tuple[list[str], Callable[[MarketData], torch.Tensor]]] = {
    "forex": (FOREX_FEATURES, forex_features),
    "commodities": (COMMODITIES_FEATURES, commodities_features),
    "equity": (EQUITY_FEATURES, equity_features),
}


def domain_notes(data: MarketData) -> list[str]:
    """Human-readable notes on every domain / macro component held neutral for missing symbols."""
    notes = []
    fx = proxies.present(data, FX_PAIRS)
    com = proxies.present(data, COMMODITIES)
    eq = proxies.present(data, EQUITY_INDICES)
    if not fx:
        notes.append(
            "no FX pair: dollar_index_proxy, dollar_momentum_20, fx_volatility_index, "
            "gold_dollar_corr, fed_trajectory_proxy held at 0"
        )
    if "USDJPY" not in data.symbols:
        notes.append("no USDJPY: carry_proxy, carry_signal (and macro rates_proxy) held at 0")
    if len(fx) < 2:
        notes.append("fewer than 2 FX pairs: fx_correlation_regime held at 0")
    if not com:
        notes.append("no XAUUSD/WTIUSD: inflation_proxy, commodity_index, fear_proxy held at 0")
    if "WTIUSD" not in data.symbols:
        notes.append("no WTIUSD: oil_supply_demand held at 0")
    if "XAUUSD" not in data.symbols:
        notes.append("no XAUUSD: gold_dollar_corr held at 0")
    if not eq:
        notes.append(
            "no equity index: valuation_proxy, equity_volatility, breadth, fear_proxy "
            "held at 0, fear_greed at 50"
        )
    if not eq and "XAUUSD" not in data.symbols and "USDJPY" not in data.symbols:
        notes.append("no equity index, XAUUSD or USDJPY: risk_on_off held at 0")
    for n in notes:
        log.info("domain features: %s", n)
    return notes
