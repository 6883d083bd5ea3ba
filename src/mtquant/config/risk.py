"""Schema of the ``risk`` group: the limits the PortfolioRiskTransform enforces on every step."""

from __future__ import annotations

from dataclasses import dataclass

from mtquant.config.validation import in_open_unit, in_unit, one_of, positive, require


@dataclass
class RiskConfig:
    max_portfolio_var: float = 0.02  # daily VaR at var_confidence, fraction of equity
    var_confidence: float = 0.95  # coverage; 0.95 -> the 5% tail
    var_method: str = (
        "parametric"  # parametric | historical | monte_carlo (reporting; transform uses parametric)
    )
    var_window: int = 100  # trading days of returns behind VaR and covariance
    max_correlation_exposure: float = 0.7  # max effective correlation of any two held legs
    max_sector_allocation: float = (
        0.4  # sector gross notional <= this x equity x max_gross_leverage
    )
    max_gross_leverage: float = 3.0  # sum |notional| / equity
    max_position_weight: float = 1.5  # per-instrument |notional| / equity (pre-trade)
    max_margin_usage: float = 0.5  # used margin / equity
    stop_out_level: float = 0.5  # margin call closes all when equity < this x used margin
    price_band: float = 0.1  # pre-trade: order price within +-10% of the last price
    correlation_window: int = 100  # bars in the rolling correlation tracker
    spike_ratio: float = 1.3  # regime spike when avg corr > 1.3 x its 20-bar mean
    breakdown_ratio: float = 0.7  # regime breakdown when avg corr < 0.7 x its 20-bar mean
    # enforce the limits through the inductor-compiled core (limits_core.py): ~3x faster per
    # call at B = 1024, but the first call per batch shape compiles (seconds); off for tests
    compile: bool = False

    def validate(self) -> None:
        positive("risk.max_portfolio_var", self.max_portfolio_var)
        in_open_unit("risk.var_confidence", self.var_confidence)
        one_of("risk.var_method", self.var_method, ("parametric", "historical", "monte_carlo"))
        require(self.var_window >= 10, "risk.var_window", self.var_window, ">= 10")
        in_unit("risk.max_correlation_exposure", self.max_correlation_exposure)
        require(
            0 < self.max_sector_allocation <= 1,
            "risk.max_sector_allocation",
            self.max_sector_allocation,
            "in (0, 1]",
        )
        positive("risk.max_gross_leverage", self.max_gross_leverage)
        positive("risk.max_position_weight", self.max_position_weight)
        require(
            0 < self.max_margin_usage <= 1,
            "risk.max_margin_usage",
            self.max_margin_usage,
            "in (0, 1]",
        )
        in_open_unit("risk.stop_out_level", self.stop_out_level)
        positive("risk.price_band", self.price_band)
        require(
            self.correlation_window >= 20,
            "risk.correlation_window",
            self.correlation_window,
            ">= 20",
        )
        require(self.spike_ratio > 1, "risk.spike_ratio", self.spike_ratio, "> 1")
        require(
            0 < self.breakdown_ratio < 1, "risk.breakdown_ratio", self.breakdown_ratio, "in (0, 1)"
        )
