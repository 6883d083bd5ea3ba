"""Causal feature engineering: MarketData -> FeatureSet tensors (see ``docs/internals.md``)."""

from mtquant.features.compute import compute_features, default_universe
from mtquant.features.domain import (
    COMMODITIES_FEATURES,
    DOMAIN_FEATURES,
    EQUITY_FEATURES,
    FOREX_FEATURES,
    commodities_features,
    equity_features,
    forex_features,
)
from mtquant.features.feature_set import FeatureSet
from mtquant.features.instrument_obs import OBS_NAMES
from mtquant.features.macro import MACRO_NAMES

__all__ = [
    "COMMODITIES_FEATURES",
    "DOMAIN_FEATURES",
    "EQUITY_FEATURES",
    "FOREX_FEATURES",
    "MACRO_NAMES",
    "OBS_NAMES",
    "FeatureSet",
    "commodities_features",
    "compute_features",
    "default_universe",
    "equity_features",
    "forex_features",
]
