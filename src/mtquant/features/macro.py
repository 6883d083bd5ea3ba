"""The 5 macro inputs of the meta-controller state: documented price proxies, or user series.

=============================  ====================================================================
name                           proxy (raw, before the training-split z-score)
=============================  ====================================================================
``vix_proxy``                  annualised 20-day realised vol of the equity reference x 100
                               (SPX500, else NAS100/US30); without equity indices the mean
                               annualised 20-day vol of all instruments x 100 (cross-asset vol)
``dollar_index_proxy``         forex ``dollar_index_proxy`` (DXY proxy vs its 1-year mean)
``rates_proxy``                forex ``carry_proxy`` (annualised 60-day USDJPY drift)
``commodity_inflation_proxy``  commodities ``inflation_proxy`` (1-year change, gold+oil basket)
``risk_appetite_proxy``        equity ``risk_on_off`` (equity momentum minus safe-haven strength)
=============================  ====================================================================

User series (``MarketData.macro`` with ``macro_names``) replace the proxy of the same name; an
unknown name is an error naming the accepted ones.
"""

from __future__ import annotations

import torch

from mtquant.data.market_data import MarketData
from mtquant.errors import DataError
from mtquant.features import domain, proxies
from mtquant.features.rolling import lag, rolling_std

MACRO_NAMES: list[str] = [
    "vix_proxy",
    "dollar_index_proxy",
    "rates_proxy",
    "commodity_inflation_proxy",
    "risk_appetite_proxy",
]


def vix_proxy(data: MarketData) -> torch.Tensor:
    """``[T]`` annualised realised volatility in points (see the module table)."""
    eq = proxies.equity_reference(data)
    if eq is not None:
        return 100.0 * proxies.realised_vol(eq, 20) * 252.0**0.5
    lc = torch.log(data.close.double())
    return 100.0 * rolling_std(lc - lag(lc, 1), 20).mean(dim=1) * 252.0**0.5


def macro_features(data: MarketData) -> torch.Tensor:
    """``[T, 5]`` float64 raw macro inputs named :data:`MACRO_NAMES` (NaN during warm-up)."""
    fx = domain.forex_features(data)
    com = domain.commodities_features(data)
    eq = domain.equity_features(data)
    cols = {
        "vix_proxy": vix_proxy(data),
        "dollar_index_proxy": fx[:, domain.FOREX_FEATURES.index("dollar_index_proxy")],
        "rates_proxy": fx[:, domain.FOREX_FEATURES.index("carry_proxy")],
        "commodity_inflation_proxy": com[:, domain.COMMODITIES_FEATURES.index("inflation_proxy")],
        "risk_appetite_proxy": eq[:, domain.EQUITY_FEATURES.index("risk_on_off")],
    }
    if data.macro is not None:
        if data.macro.shape != (data.n_days, len(data.macro_names)):
            raise DataError(
                f"macro series: shape {tuple(data.macro.shape)} does not match "
                f"{data.n_days} dates x {len(data.macro_names)} names {data.macro_names}"
            )
        for k, name in enumerate(data.macro_names):
            if name not in cols:
                raise DataError(
                    f"macro series: column {name!r} is not a macro input; accepted: {MACRO_NAMES}"
                )
            cols[name] = data.macro[:, k].double()
    return torch.stack([cols[name] for name in MACRO_NAMES], dim=1)
