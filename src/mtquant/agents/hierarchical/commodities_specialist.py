"""Commodities specialist: XAUUSD (gold), WTIUSD (oil) over the 6 commodity domain features.

Domain methods read the raw features of :func:`mtquant.features.domain.commodities_features`
(the ``[T, 6]`` tensor, or a ``MarketData``) and use the last row:

* :meth:`CommoditiesSpecialist.detect_inflation_regime` -- ``inflation_proxy`` (1-year log change
  of the equal-weight gold+oil basket): ``< -0.10`` 'deflation', ``<= 0.10`` 'stable',
  ``<= 0.50`` 'rising', above 'hyperinflation' (a commodity-price proxy, not CPI).
* :meth:`CommoditiesSpecialist.get_safe_haven_demand` -- in [0, 1]:
  ``0.5 * min(1, fear_proxy / 0.05) + 0.5 * (1 + gold_dollar_corr) / 2``. Fear (basket vol x
  equity drawdown) saturates at 0.05 (e.g. 25 % vol in a 20 % drawdown); gold normally moves
  against the dollar, so a positive gold-dollar correlation means gold is bid as a haven.
* :meth:`CommoditiesSpecialist.check_opec_schedule` -- see
  :func:`mtquant.agents.hierarchical.schedules.opec_meeting_upcoming`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from mtquant.agents.hierarchical.base_specialist import BaseSpecialist
from mtquant.agents.hierarchical.schedules import DateLike, opec_meeting_upcoming
from mtquant.features.domain import COMMODITIES_FEATURES, commodities_features

if TYPE_CHECKING:
    from mtquant.data.market_data import MarketData

INFLATION_THRESHOLDS = (-0.10, 0.10, 0.50)  # deflation | stable | rising | hyperinflation
FEAR_SATURATION = 0.05


class CommoditiesSpecialist(BaseSpecialist):
    """Commodity domain expert; the network is :class:`BaseSpecialist`'s with ``D = 6``."""

    SPECIALIST_TYPE = "commodities"
    DEFAULT_INSTRUMENTS = ("XAUUSD", "WTIUSD")
    MARKET_FEATURES_DIM = len(COMMODITIES_FEATURES)  # the domain feature list is the one source

    def get_domain_features(self, market_data: MarketData) -> torch.Tensor:
        """``[T, 6]`` raw commodity features (:data:`mtquant.features.domain.COMMODITIES_FEATURES`)."""
        return commodities_features(market_data)

    def feature_names(self) -> list[str]:
        return list(COMMODITIES_FEATURES)

    def daily_view(
        self, raw: torch.Tensor, data: MarketData, date: Any
    ) -> dict[str, str | float | bool]:
        """Inflation regime, gold's safe-haven demand and whether OPEC meets within 14 days."""
        return {
            "inflation regime": self.detect_inflation_regime(raw),
            "safe-haven demand": self.get_safe_haven_demand(raw),
            "OPEC meeting within 14 days": self.check_opec_schedule(date),
        }

    def detect_inflation_regime(self, features: torch.Tensor | MarketData) -> str:
        """'deflation' | 'stable' | 'rising' | 'hyperinflation' (module rule)."""
        x = self._feature_row(features, "detect_inflation_regime", ["inflation_proxy"])[
            "inflation_proxy"
        ]
        low, high, hyper = INFLATION_THRESHOLDS
        if x < low:
            return "deflation"
        if x <= high:
            return "stable"
        if x <= hyper:
            return "rising"
        return "hyperinflation"

    def get_safe_haven_demand(self, features: torch.Tensor | MarketData) -> float:
        """Gold's safe-haven demand in [0, 1] (module rule)."""
        v = self._feature_row(features, "get_safe_haven_demand", ["fear_proxy", "gold_dollar_corr"])
        fear = min(1.0, max(0.0, v["fear_proxy"]) / FEAR_SATURATION)
        corr = min(1.0, max(-1.0, v["gold_dollar_corr"]))
        return 0.5 * fear + 0.25 * (1.0 + corr)

    def check_opec_schedule(self, date: DateLike, horizon_days: int = 14) -> bool:
        """True when an OPEC ordinary conference is near (calendar rule, see module docstring)."""
        return opec_meeting_upcoming(date, horizon_days)
