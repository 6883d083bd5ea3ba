"""A reference row-lookup pandas trading env: the common approach of open-source trading envs.

Not used for training: it is the baseline ``pandas_env_steps_per_s`` is measured against. It
keeps MTQuant's execution semantics (:mod:`mtquant.execution.kernel`: decide at the
close of ``t``, fill at ``fill_price[t+1]`` paying half the spread, commission and slippage,
swap on the overnight position with triple nights, mark at ``close[t+1]``, margin call closing
everything) and its observations and rewards, but the way many gym trading envs are written:
one account, prices and features held in DataFrames and looked up row by row with
``DataFrame.loc`` / ``iloc`` per instrument, P&L and costs computed in Python floats.

Its risk check applies the gross-leverage and parametric-VaR layers of
:func:`~mtquant.risk_management.limits.enforce_limits` with numpy (what such envs typically
add); with ``limits=None`` the weights are executed as given, which is what the parity test
(tests/performance/test_pandas_env.py) uses to hold its equity equal to ``step_kernel``'s.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mtquant.config.env import EnvConfig
from mtquant.config.risk import RiskConfig
from mtquant.features.feature_set import FeatureSet
from mtquant.features.layout import OBS_MARKET_DIM, RETURNS_LOOKBACK
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.limits import RiskLimits


class PandasTradingEnv:
    """One account stepping through DataFrames row by row (module doc)."""

    def __init__(
        self,
        features: FeatureSet,
        universe: InstrumentUniverse,
        env_cfg: EnvConfig,
        risk_cfg: RiskConfig,
        split: tuple[int, int],
        limits: RiskLimits | None = None,
        seed: int = 0,
        start_row: int | None = None,
    ) -> None:
        self.cfg, self.limits, self.symbols = env_cfg, limits, list(universe.symbols)
        self.stop_out = risk_cfg.stop_out_level
        terms = universe.terms()
        self.terms = pd.DataFrame(
            {
                k: terms[k].numpy()
                for k in (
                    "spread",
                    "commission",
                    "swap_long",
                    "swap_short",
                    "margin_rate",
                    "usd_base",
                )
            },
            index=self.symbols,
        )
        self.specialist_of = dict(
            zip(self.symbols, universe.specialist_index().tolist(), strict=True)
        )
        self.specialists = list(universe.specialists)
        dates = features.dates
        triple = terms["triple_swap_weekday"].numpy()
        self.prices = {
            sym: pd.DataFrame(
                {
                    "close": features.close[:, k].numpy(),
                    "fill": features.fill_price[:, k].numpy(),
                    "nights": np.where(dates.day_of_week == triple[k], 3.0, 1.0),
                },
                index=dates,
            )
            for k, sym in enumerate(self.symbols)
        }
        self.obs = {
            sym: pd.DataFrame(features.obs[:, k, :OBS_MARKET_DIM].numpy(), index=dates)
            for k, sym in enumerate(self.symbols)
        }
        self.market = {
            s: pd.DataFrame(features.market[s].numpy(), index=dates) for s in self.specialists
        }
        self.rows = pd.DataFrame(
            np.concatenate([features.correlations.numpy(), features.macro.numpy()], axis=1),
            index=dates,
        )
        n = len(self.symbols)
        self.n_corr = features.correlations.shape[1]
        self.cov = pd.DataFrame(
            features.cov.reshape(len(dates), n * n).double().numpy(), index=dates
        )
        self.dates, self.split = dates, split
        self.first_row = max(split[0], features.valid_from)
        self.rng, self.fixed_start = np.random.default_rng(seed), start_row
        self.alpha = 2.0 / (env_cfg.metrics_window + 1.0)
        self.reset()

    # ------------------------------------------------------------------ episode
    def reset(self) -> dict[str, object]:
        start = self.fixed_start
        if start is None:
            start = int(self.rng.integers(self.first_row, self.split[1] - 1))
        self.t, self.end = start, min(start + self.cfg.episode_length, self.split[1] - 1)
        self.equity = self.peak = self.cfg.initial_equity
        self.units = dict.fromkeys(self.symbols, 0.0)
        self.entry = dict.fromkeys(self.symbols, 0.0)
        self.history = [0.0] * RETURNS_LOOKBACK
        self.m1, self.m2, self.hit = ([0.0] * len(self.specialists) for _ in range(3))
        return self.observe()

    def _upu(self, sym: str, price: float) -> float:
        return 1.0 if self.terms.loc[sym, "usd_base"] else price

    def _pnl(self, sym: str, units: float, p0: float, p1: float) -> float:
        return units * (1.0 - p0 / p1) if self.terms.loc[sym, "usd_base"] else units * (p1 - p0)

    def _fill_cost(self, sym: str, du: float, price: float) -> float:
        spec, cm = self.terms.loc[sym], self.cfg.cost_multiplier
        notional = du * self._upu(sym, price)
        spread = (
            0.5 * spec["spread"] * du / price if spec["usd_base"] else 0.5 * spec["spread"] * du
        )
        return float(
            cm * (spread + notional * spec["commission"] + notional * self.cfg.slippage_bps * 1e-4)
        )

    def _risk_scale(self, weights: np.ndarray) -> np.ndarray:
        if self.limits is None:
            return weights
        lim = self.limits
        gross = float(np.abs(weights).sum())
        weights = weights * min(1.0, lim.max_gross_leverage / gross) if gross > 0 else weights
        n = len(self.symbols)
        cov = self.cov.loc[self.dates[self.t]].to_numpy().reshape(n, n)
        var = lim.z * math.sqrt(max(float(weights @ cov @ weights), 0.0))
        return weights * min(1.0, lim.max_portfolio_var / var) if var > 0 else weights

    # ------------------------------------------------------------------ step
    def step(
        self, weights: np.ndarray
    ) -> tuple[dict[str, object], np.ndarray, bool, dict[str, float]]:
        """Trade toward ``weights [N]`` (notional/equity); return obs, reward [1+S], done, info."""
        weights = self._risk_scale(np.asarray(weights, dtype=np.float64))
        d0, d1 = self.dates[self.t], self.dates[self.t + 1]
        eq0, dd0 = self.equity, 1.0 - self.equity / self.peak
        net = [0.0] * len(self.specialists)
        new_units, closes = {}, {}
        for k, sym in enumerate(self.symbols):
            px = self.prices[sym]
            c0, pf, c1 = px.loc[d0, "close"], px.loc[d1, "fill"], px.loc[d1, "close"]
            u0 = self.units[sym]
            target = weights[k] * eq0 / self._upu(sym, c0)
            send = abs(target - u0) * self._upu(sym, c0) > max(self.cfg.rebalance_band, 1e-6) * eq0
            u1 = target if send else u0
            rate = self.terms.loc[sym, "swap_long" if u0 > 0 else "swap_short"]
            swap = (
                -rate
                * abs(u0)
                * self._upu(sym, c0)
                * px.loc[d0, "nights"]
                * self.cfg.cost_multiplier
            )
            pnl = self._pnl(sym, u0, c0, pf) + self._pnl(sym, u1, pf, c1)
            net[self.specialist_of[sym]] += pnl - self._fill_cost(sym, abs(u1 - u0), pf) - swap
            self._update_entry(sym, u0, u1, pf)
            new_units[sym], closes[sym] = u1, c1
        equity = eq0 + sum(net)
        used = sum(
            abs(u) * self._upu(s, closes[s]) * self.terms.loc[s, "margin_rate"]
            for s, u in new_units.items()
        )
        call = equity <= 0 or equity < self.stop_out * used
        if call:  # close everything at close[t+1], paying that fill's costs
            for sym, u in new_units.items():
                cost = self._fill_cost(sym, abs(u), closes[sym])
                net[self.specialist_of[sym]] -= cost
                equity -= cost
            equity, new_units = max(equity, 0.0), dict.fromkeys(self.symbols, 0.0)
            self.entry = dict.fromkeys(self.symbols, 0.0)
        self.units, self.equity, self.t = new_units, equity, self.t + 1
        self.peak = max(self.peak, equity)
        self.history = [*self.history[1:], equity / max(eq0, 1e-12) - 1.0]
        reward = self._rewards(eq0, dd0, [x / max(eq0, 1e-12) for x in net])
        done = call or self.t >= self.end
        obs = self.reset() if done else self.observe()
        return obs, reward, done, {"equity": equity, "margin_call": float(call)}

    def _update_entry(self, sym: str, u0: float, u1: float, pf: float) -> None:
        same = u0 != 0 and math.copysign(1.0, u1) == math.copysign(1.0, u0) and u1 != 0
        if same and abs(u1) > abs(u0):
            self.entry[sym] = (abs(u0) * self.entry[sym] + (abs(u1) - abs(u0)) * pf) / abs(u1)
        elif not same:
            self.entry[sym] = pf if u1 != 0 else 0.0

    def _rewards(self, eq0: float, dd0: float, spec_ret: list[float]) -> np.ndarray:
        c, a = self.cfg, self.alpha
        for s, r in enumerate(spec_ret):
            self.m1[s] = (1 - a) * self.m1[s] + a * r
            self.m2[s] = (1 - a) * self.m2[s] + a * r * r
            self.hit[s] = (1 - a) * self.hit[s] + a * float(r > 0)
        log_ret = max(math.log(max(self.equity / max(eq0, 1e-12), 1e-300)), math.log(1e-8))
        dd1 = 1.0 - self.equity / self.peak
        meta = c.reward_scale * (log_ret - c.drawdown_penalty * max(0.0, dd1 - dd0))
        k = c.specialist_risk_aversion * c.reward_scale
        return np.array([meta] + [c.reward_scale * (r - k * r * r) for r in spec_ret])

    # ------------------------------------------------------------------ observation
    def observe(self) -> dict[str, object]:
        """The env's observations for row ``t`` (same layout as ``observations.observe``)."""
        date, eq = self.dates[self.t], self.equity
        inst = np.zeros((len(self.symbols), OBS_MARKET_DIM + 2), dtype=np.float32)
        for k, sym in enumerate(self.symbols):
            close = self.prices[sym].loc[date, "close"]
            inst[k, :OBS_MARKET_DIM] = self.obs[sym].loc[date].to_numpy()
            inst[k, OBS_MARKET_DIM] = (
                self.units[sym] * self._upu(sym, close) / eq if eq > 0 else 0.0
            )
            unreal = (
                self._pnl(sym, self.units[sym], self.entry[sym], close) if self.units[sym] else 0.0
            )
            inst[k, OBS_MARKET_DIM + 1] = unreal / max(eq, 1e-12)
        rets = np.asarray(self.history)
        row = self.rows.loc[date].to_numpy()
        metrics = []
        for s in range(len(self.specialists)):
            sd = math.sqrt(max(self.m2[s] - self.m1[s] ** 2, 0.0))
            sharpe = min(max(self.m1[s] / (sd + 1e-8) * math.sqrt(252), -10.0), 10.0)
            metrics += [self.m1[s] * 100.0, sharpe, self.hit[s]]
        meta = np.concatenate(
            [
                rets * 100.0,
                [rets.std() * 100.0, 1.0 - eq / self.peak],
                row[: self.n_corr],
                metrics,
                row[self.n_corr :],
            ]
        )
        return {
            "meta_state": meta.astype(np.float32),
            "market": {s: m.loc[date].to_numpy() for s, m in self.market.items()},
            "instrument_obs": inst,
        }
