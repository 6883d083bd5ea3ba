"""What every measurement shares: data, features, splits, universe, limits — built once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mtquant.config.store import RunConfig
from mtquant.features.feature_set import FeatureSet
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.limits import RiskLimits


@dataclass
class BenchContext:
    """The bench's inputs, built by the training pipeline's own ``prepare`` (same data path)."""

    cfg: RunConfig
    features: FeatureSet
    splits: Any  # mtquant.data.Splits
    universe: InstrumentUniverse
    limits: RiskLimits
    prepared: dict[str, Any]  # pipeline.prepare(cfg): data, splits, features, policy, make_env

    @classmethod
    def build(cls, cfg: RunConfig) -> BenchContext:
        from mtquant.agents.training.pipeline import prepare

        prepared = prepare(cfg)
        universe = InstrumentUniverse.from_config(cfg.instruments)
        return cls(
            cfg=cfg,
            features=prepared["features"],
            splits=prepared["splits"],
            universe=universe,
            limits=RiskLimits.from_config(cfg.risk, universe),
            prepared=prepared,
        )

    @property
    def train_split(self) -> tuple[int, int]:
        start, stop = self.splits.train
        return int(start), int(stop)
