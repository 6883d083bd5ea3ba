"""Equity specialist: SPX500, NAS100, US30 over the 7 equity domain features.

* :meth:`EquitySpecialist.detect_sector_rotation` (from closes, ``window`` = 60 days): relative
  strength ``rs = log(NAS100 change) - log(US30 change)`` over the window, market move ``m`` =
  mean window log change of the indices, volatility ``vol`` = annualised std of the mean daily
  log return. ``vol > 0.25`` and ``m < 0`` -> 'defensive'; else ``rs > 0.03`` -> 'growth'
  (tech leads); ``rs < -0.03`` -> 'value' (blue chips lead); else 'cyclical' (broad advance
  without style leadership).
* :meth:`EquitySpecialist.get_fear_greed_index` -- the ``fear_greed`` feature (momentum,
  volatility and breadth, see :func:`mtquant.features.domain.equity_features`), in [0, 100].
* :meth:`EquitySpecialist.check_earnings_calendar` -- see
  :func:`mtquant.agents.hierarchical.schedules.earnings_calendar`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from mtquant.agents.hierarchical.base_specialist import BaseSpecialist, window_log_returns
from mtquant.agents.hierarchical.schedules import DateLike, earnings_calendar
from mtquant.features.domain import EQUITY_FEATURES, equity_features

if TYPE_CHECKING:
    from mtquant.data.market_data import MarketData

ROTATION_WINDOW = 60  # days behind the sector rotation
ROTATION_VOL = 0.25
ROTATION_RS = 0.03


class EquitySpecialist(BaseSpecialist):
    """Equity-index domain expert; the network is :class:`BaseSpecialist`'s with ``D = 7``."""

    SPECIALIST_TYPE = "equity"
    DEFAULT_INSTRUMENTS = ("SPX500", "NAS100", "US30")
    MARKET_FEATURES_DIM = len(EQUITY_FEATURES)  # the domain feature list is the one source

    def get_domain_features(self, market_data: MarketData) -> torch.Tensor:
        """``[T, 7]`` raw equity features (:data:`mtquant.features.domain.EQUITY_FEATURES`)."""
        return equity_features(market_data)

    def feature_names(self) -> list[str]:
        return list(EQUITY_FEATURES)

    def daily_view(
        self, raw: torch.Tensor, data: MarketData, date: Any
    ) -> dict[str, str | float | bool]:
        """Fear / greed index, earnings season, and the sector rotation of the last 60 days
        when both NAS100 and US30 are traded."""
        view: dict[str, str | float | bool] = {
            "fear/greed index": self.get_fear_greed_index(raw),
            "earnings season": any(self.check_earnings_calendar(date).values()),
        }
        if {"NAS100", "US30"} <= set(self.instruments) and data.n_days > ROTATION_WINDOW:
            tail = data.slice(data.n_days - ROTATION_WINDOW - 1, data.n_days)
            view["sector rotation"] = self.detect_sector_rotation(tail, ROTATION_WINDOW)
        return view

    def detect_sector_rotation(self, market_data: MarketData, window: int = ROTATION_WINDOW) -> str:
        """'growth' | 'value' | 'defensive' | 'cyclical' from the last ``window`` days (module rule)."""
        self._require("NAS100", "detect_sector_rotation")
        self._require("US30", "detect_sector_rotation")
        r = window_log_returns(self._closes(market_data), window, "detect_sector_rotation")
        syms = self.instruments
        rs = float(r[:, syms.index("NAS100")].sum() - r[:, syms.index("US30")].sum())
        market_move = float(r.sum(0).mean())
        vol = float(r.mean(1).std()) * math.sqrt(252.0)
        if vol > ROTATION_VOL and market_move < 0:
            return "defensive"
        if rs > ROTATION_RS:
            return "growth"
        if rs < -ROTATION_RS:
            return "value"
        return "cyclical"

    def get_fear_greed_index(self, features: torch.Tensor | MarketData) -> float:
        """0 (extreme fear) .. 100 (extreme greed), from the ``fear_greed`` feature."""
        v = self._feature_row(features, "get_fear_greed_index", ["fear_greed"])["fear_greed"]
        return max(0.0, min(100.0, v))

    def check_earnings_calendar(self, date: DateLike) -> dict[str, bool]:
        """US reporting season flags for ``date`` (calendar rule, see the schedules module)."""
        return earnings_calendar(date)
