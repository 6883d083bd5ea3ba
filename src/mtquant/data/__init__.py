"""Market data: loading, validation, alignment, synthetic generator and splits.

``load_market_data(cfg)`` is the one loader every entry point uses; see docs/data.md.
"""

from mtquant.data.loader import load_market_data, model_from_config
from mtquant.data.market_data import FIELDS, MarketData, Provenance
from mtquant.data.splits import Fold, Splits, fold_splits, make_splits, walk_forward_folds
from mtquant.data.synthetic import (
    SyntheticModel,
    oracle_positions,
    oracle_sharpe,
    planted_signal,
)

__all__ = [
    "FIELDS",
    "Fold",
    "fold_splits",
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
