"""Schema of the ``data`` group: where prices come from, how they are aligned and split."""

from __future__ import annotations

from dataclasses import dataclass, field

from mtquant.config.validation import non_negative, one_of, positive, require

FILE_SOURCES = ("mt5_csv", "csv", "parquet")  # one file per symbol in data.path
SOURCES = ("packaged", "synthetic", *FILE_SOURCES)  # mtquant.data.loader.DATA_SOURCES


@dataclass
class SyntheticConfig:
    n_days: int = 2600  # business days generated
    start: str = "2008-01-01"  # first generated date (labels only; data is generated)
    signal_strength: float = (
        0.0  # information coefficient of the planted next-day predictor (0 = none)
    )
    calibrate_to_packaged: bool = (
        True  # vols/correlations from the packaged real data, else built-in table
    )
    tail_df: float = 5.0  # Student-t degrees of freedom of the innovations (fat tails)
    regime_persistence: float = (
        0.99  # daily probability of staying in the current volatility regime
    )
    high_vol_multiplier: float = 2.0  # volatility multiplier in the high-volatility regime

    def validate(self) -> None:
        require(self.n_days >= 300, "data.synthetic.n_days", self.n_days, ">= 300")
        require(
            0 <= self.signal_strength < 1,
            "data.synthetic.signal_strength",
            self.signal_strength,
            "in [0, 1)",
        )
        require(self.tail_df > 2, "data.synthetic.tail_df", self.tail_df, "> 2")
        require(
            0 < self.regime_persistence < 1,
            "data.synthetic.regime_persistence",
            self.regime_persistence,
            "in (0, 1)",
        )
        positive("data.synthetic.high_vol_multiplier", self.high_vol_multiplier)


@dataclass
class SplitConfig:
    test_months: int = 6  # the last months, never seen by training or model selection
    val_months: int = 6  # validation window before the test period (model selection)
    warmup_days: int = 260  # first days used only to warm features up (no trading)

    def validate(self) -> None:
        require(self.test_months >= 1, "data.split.test_months", self.test_months, ">= 1")
        require(self.val_months >= 1, "data.split.val_months", self.val_months, ">= 1")
        non_negative("data.split.warmup_days", self.warmup_days)


@dataclass
class WalkForwardConfig:
    """Expanding-window folds of the walk-forward backtest (``scripts/backtest.py``).

    ``last_folds`` limits a run to the last N folds of the data (null: every fold), in the serial
    run and in the grid of ``python scripts/backtest.py -m`` alike, e.g. a quick check of the most
    recent years. ``fold`` runs that one fold only (its index among all folds, as the report's
    "fold k" names it); the grid sets it per job (with ``seed``), a user rarely does.
    """

    initial_train_years: int = 5  # first expanding training window
    retrain_months: int = 12  # step between folds
    test_months: int = 6  # test window after each training window
    last_folds: int | None = None  # run only the last N folds (null = all folds)
    fold: int | None = None  # run only this fold (index among all folds; set per grid job)

    def validate(self) -> None:
        require(
            self.last_folds is None or self.last_folds >= 1,
            "data.walk_forward.last_folds",
            self.last_folds,
            "a positive number of folds (the last N) or null for every fold",
        )
        require(
            self.fold is None or self.fold >= 0,
            "data.walk_forward.fold",
            self.fold,
            "a fold index >= 0 or null",
        )
        require(
            self.initial_train_years >= 1,
            "data.walk_forward.initial_train_years",
            self.initial_train_years,
            ">= 1",
        )
        require(
            self.retrain_months >= 1,
            "data.walk_forward.retrain_months",
            self.retrain_months,
            ">= 1",
        )
        require(self.test_months >= 1, "data.walk_forward.test_months", self.test_months, ">= 1")


@dataclass
class DataConfig:
    source: str = "packaged"  # packaged | synthetic | mt5_csv | csv | parquet
    path: str | None = None  # folder with SYMBOL.csv / SYMBOL.parquet for user-supplied sources
    start: str | None = "1999-01-04"  # first date kept (inclusive), None = all
    end: str | None = "2018-12-31"  # last date kept (inclusive), None = all
    max_ffill_days: int = 3  # longest gap bridged by forward fill; longer gaps are reported
    seed: int = 7  # seed of generated series (synthetic source and packaged proxies)
    macro_path: str | None = (
        None  # optional CSV of user macro series (date + columns), else proxies
    )
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    walk_forward: WalkForwardConfig = field(default_factory=WalkForwardConfig)

    def validate(self) -> None:
        one_of("data.source", self.source, SOURCES)
        require(
            self.source not in FILE_SOURCES or bool(self.path),
            "data.path",
            self.path,
            f"a folder of per-symbol files when data.source={self.source}",
        )
        require(
            0 <= self.max_ffill_days <= 10, "data.max_ffill_days", self.max_ffill_days, "in [0, 10]"
        )
