"""Market data: loading, validation, alignment, synthetic generator and splits.

``load_market_data(cfg)`` is the one loader every entry point uses; see docs/data.md.
"""

from mtquant.data.loader import load_market_data
from mtquant.data.market_data import FIELDS, MarketData, Provenance
from mtquant.data.splits import Fold, Splits, make_splits, walk_forward_folds
from mtquant.data.synthetic import (
    SyntheticModel,
    model_from_config,
    oracle_positions,
    oracle_sharpe,
    planted_signal,
)

__all__ = [
    "FIELDS",
    "Fold",
    "MarketData",
    "Provenance",
    "Splits",
    "SyntheticModel",
    "load_market_data",
    "make_splits",
    "model_from_config",
    "oracle_positions",
    "oracle_sharpe",
    "planted_signal",
    "walk_forward_folds",
]
