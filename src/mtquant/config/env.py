"""Schema of the ``env`` group: account, execution costs and rewards of MultiInstrumentEnv."""

from __future__ import annotations

from dataclasses import dataclass

from mtquant.config.validation import non_negative, positive, require


@dataclass
class EnvConfig:
    initial_equity: float = 100_000.0  # USD
    episode_length: int = 252  # trading days per episode (clipped at the split end)
    slippage_bps: float = 0.5  # per side, bps of notional, on top of half the spread
    cost_multiplier: float = 1.0  # scales spread, commission, slippage and swaps (cost sweeps)
    max_gross_weight: float = 3.0  # action bound on |target weight| per instrument
    # rewards (documented in docs/training-pipeline.md)
    reward_scale: float = 100.0  # rewards are returns in percent
    specialist_risk_aversion: float = 0.5  # r_s = ret_s - k * ret_s^2 * reward_scale
    drawdown_penalty: float = 0.5  # meta: minus k x increase in drawdown
    diversification_bonus: float = 0.001  # meta: plus k x normalised entropy of the allocation
    sizing_target_vol: float = 0.01  # daily vol budget per specialist at equal allocation
    rebalance_band: float = 0.0  # orders below this fraction of equity are not sent (no-trade band)
    metrics_window: int = 20  # days (EWMA span) of the specialist metrics in the meta state
    # matched volatility: evaluations and backtests scale every strategy's book to this ex-ante
    # annual volatility (EWMA covariance) before the risk guard; None: each at its own size
    target_annual_vol: float | None = None

    def validate(self) -> None:
        positive("env.initial_equity", self.initial_equity)
        require(self.episode_length >= 2, "env.episode_length", self.episode_length, ">= 2")
        non_negative("env.slippage_bps", self.slippage_bps)
        non_negative("env.cost_multiplier", self.cost_multiplier)
        positive("env.max_gross_weight", self.max_gross_weight)
        positive("env.reward_scale", self.reward_scale)
        non_negative("env.specialist_risk_aversion", self.specialist_risk_aversion)
        non_negative("env.drawdown_penalty", self.drawdown_penalty)
        non_negative("env.diversification_bonus", self.diversification_bonus)
        positive("env.sizing_target_vol", self.sizing_target_vol)
        require(
            0 <= self.rebalance_band < 1, "env.rebalance_band", self.rebalance_band, "in [0, 1)"
        )
        require(self.metrics_window >= 1, "env.metrics_window", self.metrics_window, ">= 1")
        if self.target_annual_vol is not None:
            positive("env.target_annual_vol", self.target_annual_vol)
