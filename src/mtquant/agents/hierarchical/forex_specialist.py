"""Forex specialist: EURUSD, GBPUSD, USDJPY over the 8 FX domain features.

Domain methods read the raw domain features of :func:`mtquant.features.domain.forex_features`
(pass the ``[T, 8]`` tensor, or a ``MarketData`` to compute it) and use the last row:

* :meth:`ForexSpecialist.detect_correlation_regime` -- when the USD-oriented pairs move together
  (``fx_correlation_regime >= 0.5``, a dollar-driven market), a rising dollar
  (``dollar_momentum_20 > 0``) is 'risk-off' (the dollar's safe-haven bid) and a falling dollar
  'risk-on'; otherwise 'neutral'.
* :meth:`ForexSpecialist.get_carry_signal` -- the ``carry_signal`` feature: USDJPY's 60-day
  drift (US-JP rate-spread proxy) over its annualised volatility, squashed by tanh into [-1, 1].
* :meth:`ForexSpecialist.check_central_bank_schedule` -- see
  :func:`mtquant.agents.hierarchical.schedules.central_bank_schedule`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from mtquant.agents.hierarchical.base_specialist import BaseSpecialist
from mtquant.agents.hierarchical.schedules import DateLike, central_bank_schedule
from mtquant.features.domain import FOREX_FEATURES, forex_features

if TYPE_CHECKING:
    from mtquant.data.market_data import MarketData

CORRELATION_REGIME_THRESHOLD = 0.5


class ForexSpecialist(BaseSpecialist):
    """FX domain expert; the network is :class:`BaseSpecialist`'s with ``D = 8``."""

    SPECIALIST_TYPE = "forex"
    DEFAULT_INSTRUMENTS = ("EURUSD", "GBPUSD", "USDJPY")
    MARKET_FEATURES_DIM = len(FOREX_FEATURES)  # the domain feature list is the one source

    def get_domain_features(self, market_data: MarketData) -> torch.Tensor:
        """``[T, 8]`` raw FX features (:data:`mtquant.features.domain.FOREX_FEATURES`)."""
        return forex_features(market_data)

    def feature_names(self) -> list[str]:
        return list(FOREX_FEATURES)

    def daily_view(
        self, raw: torch.Tensor, data: MarketData, date: Any
    ) -> dict[str, str | float | bool]:
        """Correlation regime, carry signal and whether a central bank decides within 7 days."""
        banks = self.check_central_bank_schedule(date)
        return {
            "correlation regime": self.detect_correlation_regime(raw),
            "carry signal": self.get_carry_signal(raw),
            "central-bank decision within 7 days": any(banks.values()),
        }

    def detect_correlation_regime(
        self, features: torch.Tensor | MarketData, threshold: float = CORRELATION_REGIME_THRESHOLD
    ) -> str:
        """'risk-on' | 'risk-off' | 'neutral' (module rule)."""
        v = self._feature_row(
            features, "detect_correlation_regime", ["fx_correlation_regime", "dollar_momentum_20"]
        )
        if v["fx_correlation_regime"] < threshold or v["dollar_momentum_20"] == 0.0:
            return "neutral"
        return "risk-off" if v["dollar_momentum_20"] > 0 else "risk-on"

    def get_carry_signal(self, features: torch.Tensor | MarketData) -> float:
        """Carry attractiveness in [-1, 1]: + long USD vs JPY earns risk-adjusted carry."""
        v = self._feature_row(features, "get_carry_signal", ["carry_signal"])
        return max(-1.0, min(1.0, v["carry_signal"]))

    def check_central_bank_schedule(
        self,
        date: DateLike,
        horizon_days: int = 7,
        meetings: Mapping[str, Sequence[DateLike]] | None = None,
    ) -> dict[str, bool]:
        """``{bank: rate decision within horizon_days}`` (FOMC rule, or user-supplied dates)."""
        return central_bank_schedule(date, horizon_days, meetings)
