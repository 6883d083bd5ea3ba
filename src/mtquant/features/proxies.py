"""Named market proxies computed from prices only (building blocks of the domain features).

Each proxy says which series and weights it uses. A proxy whose inputs are missing from the data
returns ``None``; callers then use a documented neutral value and report it
(see :func:`mtquant.features.domain.domain_notes`).
"""

from __future__ import annotations

import torch

from mtquant.data.market_data import MarketData
from mtquant.features.rolling import lag, rolling_max, rolling_std

FX_PAIRS = ("EURUSD", "GBPUSD", "USDJPY")
COMMODITIES = ("XAUUSD", "WTIUSD")
EQUITY_INDICES = ("SPX500", "NAS100", "US30")

# ICE US Dollar Index weights of the crosses MTQuant trades (EUR 57.6 %, JPY 13.6 %, GBP 11.9 %;
# CAD, SEK and CHF are not in the data). The proxy renormalises them over the pairs present.
DXY_WEIGHTS = {"EURUSD": 0.576, "USDJPY": 0.136, "GBPUSD": 0.119}
# +1 when a rise of the quote means a stronger dollar (USD is the base), -1 when USD is the quote.
USD_SIGN = {"EURUSD": -1.0, "GBPUSD": -1.0, "USDJPY": 1.0}


def present(data: MarketData, symbols: tuple[str, ...]) -> list[str]:
    """The given symbols that are in ``data``, in the given order."""
    return [s for s in symbols if s in data.symbols]


def closes(data: MarketData, symbols: list[str]) -> torch.Tensor:
    """``[T, K]`` float64 closes of the given symbols."""
    idx = [data.symbols.index(s) for s in symbols]
    return data.close[:, idx].double()


def dollar_index_proxy(fx_closes: torch.Tensor, symbols: list[str]) -> torch.Tensor:
    """``[T]`` DXY-like geometric dollar index, 100 at row 0.

    ``100 * prod_k (P_k[t] / P_k[0]) ** (s_k * w_k / sum w)`` over the pairs given, with the ICE
    DXY weights :data:`DXY_WEIGHTS` and ``s_k`` = +1 for USD-base pairs (USDJPY), -1 for
    USD-quote pairs (EURUSD, GBPUSD), so that the index rises when the dollar strengthens.
    Row 0 is the first row of the data, so the value at ``t`` uses rows ``<= t`` only.
    """
    if not symbols:
        raise ValueError("dollar_index_proxy needs at least one of " + ", ".join(FX_PAIRS))
    w = torch.tensor([DXY_WEIGHTS[s] for s in symbols], dtype=torch.float64)
    sign = torch.tensor([USD_SIGN[s] for s in symbols], dtype=torch.float64)
    expo = sign * w / w.sum()
    log_rel = torch.log(fx_closes.double() / fx_closes[0].double())
    return 100.0 * torch.exp(log_rel @ expo)


def dollar_index(data: MarketData) -> torch.Tensor | None:
    """:func:`dollar_index_proxy` of the FX pairs in ``data``; None when there are none."""
    pairs = present(data, FX_PAIRS)
    return dollar_index_proxy(closes(data, pairs), pairs) if pairs else None


def log_basket(data: MarketData, symbols: tuple[str, ...]) -> torch.Tensor | None:
    """``[T]`` equal-weighted geometric basket ``mean_k log(P_k[t] / P_k[0])``; None if empty."""
    syms = present(data, symbols)
    if not syms:
        return None
    c = closes(data, syms)
    return torch.log(c / c[0]).mean(dim=1)


def equity_reference(data: MarketData) -> torch.Tensor | None:
    """``[T]`` log price of SPX500 when present, else the log basket of NAS100 / US30."""
    if "SPX500" in data.symbols:
        return torch.log(closes(data, ["SPX500"])[:, 0])
    return log_basket(data, EQUITY_INDICES)


def log_change(log_level: torch.Tensor, h: int) -> torch.Tensor:
    """``log_level[t] - log_level[t-h]`` (NaN for ``t < h``)."""
    return log_level - lag(log_level, h)


def realised_vol(log_level: torch.Tensor, w: int) -> torch.Tensor:
    """Daily realised volatility (ddof=1) of log changes over ``w`` rows."""
    return rolling_std(log_change(log_level, 1), w)


def drawdown(log_level: torch.Tensor, w: int = 252) -> torch.Tensor:
    """``1 - P[t] / max(P over w rows)`` in [0, 1)."""
    return 1.0 - torch.exp(log_level - rolling_max(log_level, w))


def carry_proxy(data: MarketData, w: int = 60) -> torch.Tensor | None:
    """``[T]`` rate-spread proxy: annualised ``w``-day drift of log USDJPY (long USD vs JPY).

    No interest rates ship with MTQuant. USDJPY is the classic carry cross (JPY the funding
    currency); its persistent drift tracks the US-Japan rate spread (carry accrual plus the
    forward-premium puzzle). None when USDJPY is absent.
    """
    if "USDJPY" not in data.symbols:
        return None
    lp = torch.log(closes(data, ["USDJPY"])[:, 0])
    return log_change(lp, w) * (252.0 / w)
