"""Schema of the ``risk`` group: the limits the PortfolioRiskTransform enforces on every step."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from mtquant.config.validation import ConfigError, in_open_unit, in_unit, one_of, positive, require

BREAKER_RESPONSES = ("scale", "flatten")
# the enforced VaR models (mtquant.risk_management.var_models.VAR_METHODS) and correlation rules
VAR_METHODS = ("parametric", "ewma", "historical", "fhs", "cornish_fisher", "auto")
CORRELATION_RULES = ("pairwise", "weighted")


@dataclass
class StressWindow:
    """A named historical window whose returns stress tests and reports replay."""

    name: str = "window"
    start: str = "2008-09-01"  # first day (inclusive)
    end: str = "2008-11-28"  # last day (inclusive)

    def validate(self) -> None:
        try:
            start, end = pd.Timestamp(self.start), pd.Timestamp(self.end)
        except ValueError as exc:
            raise ConfigError(f"config risk.stress {self.name!r}: bad date ({exc})") from None
        require(start <= end, f"risk.stress.{self.name}.end", self.end, f">= start {self.start}")


def _stress_windows() -> list[StressWindow]:
    return [
        StressWindow("2008 crash", "2008-09-01", "2008-11-28"),
        StressWindow("2011 August", "2011-08-01", "2011-08-31"),
        StressWindow("2015 August", "2015-08-03", "2015-08-31"),
        StressWindow("2018 February", "2018-02-01", "2018-02-28"),
    ]


@dataclass
class RiskConfig:
    max_portfolio_var: float = 0.02  # daily VaR at var_confidence, fraction of equity
    var_confidence: float = 0.95  # coverage; 0.95 -> the 5% tail
    # the VaR model the transform enforces (risk_management/var_models.py): parametric (sample
    # covariance) | ewma (RiskMetrics covariance) | historical | fhs (filtered historical) |
    # cornish_fisher | auto (historical when Jarque-Bera rejects normality, else parametric)
    var_method: str = "cornish_fisher"  # chosen on the pre-2011 folds (docs/portfolio-risk.md)
    var_window: int = 100  # trading days of returns behind VaR and covariance
    # optional Expected Shortfall limit at var_confidence under var_method (null = none)
    max_portfolio_es: float | None = None
    # pairwise: every same-direction held pair above the limit loses its smaller leg;
    # weighted: the size-weighted mean effective correlation of the held pairs is scaled down
    # to the limit (docs/portfolio-risk.md)
    correlation_rule: str = "weighted"
    max_correlation_exposure: float = 0.7  # the correlation rule's limit
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
    # circuit breaker (the plan's 15% drawdown): trips on a drawdown beyond max_drawdown, on
    # breaker_var_streak consecutive losses beyond the ex-ante VaR, or on a correlation spike;
    # then scales every target by breaker_scale (or flattens) for breaker_cooldown_days decisions
    max_drawdown: float = 0.15  # drawdown from peak equity that trips the breaker
    breaker_var_streak: int = 3  # consecutive VaR breaches that trip it
    breaker_on_correlation_spike: bool = True  # a correlation spike (spike_ratio) trips it
    breaker_response: str = "scale"  # scale | flatten
    breaker_scale: float = 0.5  # target multiplier while the breaker is on (response scale)
    breaker_cooldown_days: int = 5  # decisions the response lasts after the last trip
    # named historical windows: reports show every strategy's VaR, ES and realised loss there,
    # and replay their returns on each strategy's last book (a scenario check)
    stress: list[StressWindow] = field(default_factory=_stress_windows)

    def validate(self) -> None:
        positive("risk.max_portfolio_var", self.max_portfolio_var)
        in_open_unit("risk.var_confidence", self.var_confidence)
        one_of("risk.var_method", self.var_method, VAR_METHODS)
        if self.max_portfolio_es is not None:
            positive("risk.max_portfolio_es", self.max_portfolio_es)
        one_of("risk.correlation_rule", self.correlation_rule, CORRELATION_RULES)
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
        in_open_unit("risk.max_drawdown", self.max_drawdown)
        require(
            self.breaker_var_streak >= 1, "risk.breaker_var_streak", self.breaker_var_streak, ">= 1"
        )
        one_of("risk.breaker_response", self.breaker_response, BREAKER_RESPONSES)
        in_unit("risk.breaker_scale", self.breaker_scale)
        require(
            self.breaker_cooldown_days >= 1,
            "risk.breaker_cooldown_days",
            self.breaker_cooldown_days,
            ">= 1",
        )
        names = [w.name for w in self.stress]
        require(len(set(names)) == len(names), "risk.stress", names, "distinct window names")
