"""The portfolio risk manager: the plan's four layers, VaR, sectors, margin, the decision guard.

One implementation: :meth:`PortfolioRiskManager.check_portfolio_risk` runs
:func:`~mtquant.risk_management.limits.enforce_limits` (the function the risk transform and the
decision cycle enforce with) on the proposed book and says ok exactly when it leaves the book
unchanged; the reason names the plan's layer that would change it (1 VaR, 2 correlation, 3
sector / gross leverage / position, 4 margin) with the figures. :meth:`guard` is the decision
path (:func:`~mtquant.risk_management.guard.guard_book`: limits, circuit breaker, pre-trade gate)
that :class:`~mtquant.agents.hierarchical.hierarchical_system.HierarchicalTradingSystem` calls.

Positions are anything with ``.symbol`` and ``.notional`` (signed USD notional, long > 0) —
:class:`PositionLike` — so this module does not depend on the execution layer; a portfolio is
anything with ``.equity`` (USD).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from mtquant.config.risk import RiskConfig
from mtquant.errors import DataError
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management import var as var_lib
from mtquant.risk_management.correlation_exposure import (
    correlation_from_covariance,
    weighted_correlation_exposure,
)
from mtquant.risk_management.correlation_tracker import CorrelationTracker
from mtquant.risk_management.guard import BreakerState, Guarded, GuardRules, guard_book
from mtquant.risk_management.limits import (
    BINDING_NAMES,
    RiskLimits,
    book_tail,
    correlation_exposure,
    enforce_limits,
)
from mtquant.risk_management.var_models import VarInputs, inputs_from_history

__all__ = [
    "BookAccount",
    "BookPosition",
    "CorrelationTracker",
    "PortfolioLike",
    "PortfolioRiskManager",
    "PositionLike",
]

_METHOD_ALIASES = {
    "variance_covariance": "parametric",
    "parametric": "parametric",
    "historical": "historical",
    "monte_carlo": "monte_carlo",
}


@runtime_checkable
class PositionLike(Protocol):
    """A position: instrument symbol and signed USD notional."""

    @property
    def symbol(self) -> str: ...

    @property
    def notional(self) -> float: ...


@runtime_checkable
class PortfolioLike(Protocol):
    """An account: equity in USD (``margin_available`` is read when present)."""

    @property
    def equity(self) -> float: ...


@dataclass(frozen=True)
class BookPosition:
    """Minimal :class:`PositionLike` used to build proposed books."""

    symbol: str
    notional: float


@dataclass(frozen=True)
class BookAccount:
    """Minimal :class:`PortfolioLike`: an account's equity in USD."""

    equity: float


class PortfolioRiskManager:
    """Four-layer portfolio check plus VaR, correlation, sector and margin reports.

    The covariance behind VaR and correlation comes from the returns given to
    :meth:`set_returns_history` / :meth:`update_returns` (last ``var_window`` rows); the
    :attr:`tracker` follows the same returns over ``correlation_window`` bars for regime alerts.
    """

    def __init__(
        self, risk_cfg: RiskConfig, universe: InstrumentUniverse, rebalance_band: float = 0.0
    ) -> None:
        self.cfg = risk_cfg
        self.universe = universe
        self.limits = RiskLimits.from_config(risk_cfg, universe)
        # rebalance_band: env.rebalance_band of the execution (orders below it are not sent)
        self.rules = GuardRules.from_config(risk_cfg, rebalance_band)
        self.symbols = universe.symbols
        self.margin_rate = universe.terms()["margin_rate"].numpy()
        self.sector_of = [inst.sector for inst in universe.instruments]
        self.tracker = CorrelationTracker(
            self.symbols,
            window=risk_cfg.correlation_window,
            spike_ratio=risk_cfg.spike_ratio,
            breakdown_ratio=risk_cfg.breakdown_ratio,
        )
        self._returns = np.zeros((0, universe.n))

    # ------------------------------------------------------------------ state
    def set_returns_history(self, returns: np.ndarray) -> None:
        """Use ``returns [T, N]`` (instrument order) as the history; feeds the tracker too."""
        r = np.asarray(returns, dtype=np.float64)
        if r.ndim != 2 or r.shape[1] != self.universe.n:
            raise DataError(f"returns history must be [T, {self.universe.n}]; got {r.shape}")
        var_lib._check_returns(r)
        self._returns = r[-self.cfg.var_window :].copy()
        self.tracker.extend(r[-self.cfg.correlation_window :])

    def update_returns(self, row: dict[str, float] | np.ndarray) -> None:
        """Append one bar of returns (dict by symbol or ``[N]``)."""
        vec = self.tracker._row(row)
        self.tracker.update(vec)
        self._returns = np.vstack([self._returns, vec])[-self.cfg.var_window :]

    def covariance(self) -> np.ndarray:
        """Sample covariance (ddof=1) of the stored returns window ``[N, N]``."""
        if self._returns.shape[0] < 2:
            raise DataError(
                f"PortfolioRiskManager has {self._returns.shape[0]} return rows; "
                "call set_returns_history with at least 2"
            )
        return np.cov(self._returns, rowvar=False, ddof=1).reshape(self.universe.n, -1)

    # ------------------------------------------------------------------ books
    def notionals(self, positions: Sequence[PositionLike]) -> np.ndarray:
        """Signed USD notional per instrument ``[N]`` (positions in one symbol add up)."""
        out = np.zeros(self.universe.n)
        for p in positions:
            if p.symbol not in self.symbols:
                raise DataError(
                    f"position in unknown instrument {p.symbol!r}; known {self.symbols}"
                )
            value = float(p.notional)
            if not np.isfinite(value):
                raise DataError(f"position {p.symbol}: notional is not finite ({value})")
            out[self.symbols.index(p.symbol)] += value
        return out

    def weights(self, positions: Sequence[PositionLike], equity: float) -> np.ndarray:
        """Signed weights ``notional / equity`` ``[N]``."""
        if not equity > 0:
            raise DataError(f"portfolio equity must be > 0; got {equity}")
        return self.notionals(positions) / float(equity)

    # ------------------------------------------------------------------ the four layers
    def check_portfolio_risk(
        self, proposed_positions: Sequence[PositionLike], current_portfolio: PortfolioLike
    ) -> tuple[bool, str]:
        """``(ok, reason)``: ok exactly when :func:`enforce_limits` would leave the proposed book
        unchanged under the stored returns' covariance (module doc)."""
        equity = float(current_portfolio.equity)
        w = torch.from_numpy(self.weights(proposed_positions, equity))[None]
        cov = torch.from_numpy(self.covariance())[None]
        inputs = self.var_inputs()
        executed, diag = enforce_limits(w, cov, self.limits, inputs)
        flags = int(diag.binding_flags[0])
        if flags == 0:
            return True, "ok"
        layer = BINDING_NAMES[(flags & -flags).bit_length()]  # the first layer that bound
        return False, self._reason(layer, w, executed, cov, equity, inputs)

    def var_inputs(self) -> VarInputs | None:
        """The enforced VaR model's inputs from the stored returns window (None: parametric,
        which reads the window's covariance)."""
        if self.limits.var_method == "parametric":
            return None
        return inputs_from_history(self.limits.var_model, torch.from_numpy(self._returns))

    def _reason(
        self,
        layer: str,
        w: torch.Tensor,
        executed: torch.Tensor,
        cov: torch.Tensor,
        equity: float,
        inputs: VarInputs | None = None,
    ) -> str:
        """The plan's layer number, the rule and the figures of the first limit that binds."""
        cfg, lim = self.cfg, self.limits
        if layer == "var":
            tail = book_tail(w, cov, lim, inputs)
            var, es = float(tail.var[0]), float(tail.es[0])
            if var > cfg.max_portfolio_var:
                return (
                    f"layer 1 VaR: {cfg.var_method} {cfg.var_confidence:.0%} VaR {var:.4%} of "
                    f"equity > max_portfolio_var {cfg.max_portfolio_var:.4%}"
                )
            return (
                f"layer 1 ES: {cfg.var_method} {cfg.var_confidence:.0%} ES {es:.4%} of equity > "
                f"max_portfolio_es {cfg.max_portfolio_es:.4%}"
            )
        if layer == "correlation":
            if cfg.correlation_rule == "weighted":
                rho = correlation_from_covariance(cov[0].numpy())
                exposure = float(weighted_correlation_exposure(w.numpy(), rho)[0])
                what = "size-weighted correlation exposure"
            else:
                exposure = float(correlation_exposure(w, cov)[0])
                what = "effective correlation"
            return (
                f"layer 2 correlation: {what} {exposure:.3f} > "
                f"max_correlation_exposure {cfg.max_correlation_exposure:.3f}"
            )
        if layer == "sector":
            gross = self._sector_gross(w[0].abs().numpy())
            sector, value = max(gross.items(), key=lambda kv: kv[1])
            return (
                f"layer 3 sector: {sector} gross {value:.3f} x equity > max_sector_allocation "
                f"x max_gross_leverage = {lim.sector_cap:.3f}"
            )
        if layer == "gross":
            return (
                f"layer 3 leverage: gross {float(w.abs().sum()):.3f} x equity > "
                f"max_gross_leverage {cfg.max_gross_leverage:.3f}"
            )
        if layer == "position":
            k = int(w[0].abs().argmax())
            return (
                f"layer 3 position: {self.symbols[k]} weight {float(w[0, k]):+.3f} x equity "
                f"exceeds max_position_weight {cfg.max_position_weight:.3f}"
            )
        margin = float((w[0].abs().numpy() @ self.margin_rate) * equity)
        return (
            f"layer 4 margin: required {margin:,.2f} USD > max_margin_usage x equity "
            f"{cfg.max_margin_usage * equity:,.2f} USD"
        )

    def guard(
        self,
        proposed: torch.Tensor,
        cov: torch.Tensor,
        current: torch.Tensor,
        equity: torch.Tensor,
        tradable: torch.Tensor,
        spike: torch.Tensor,
        state: BreakerState,
        var_inputs: VarInputs | None = None,
    ) -> Guarded:
        """The decision path's guard on ``[B, N]`` books (:func:`guard_book` with these limits;
        ``var_inputs``: the enforced VaR model's inputs, as the env's transform gathers them)."""
        return guard_book(
            proposed, cov, current, equity, tradable, spike, state, self.limits, self.rules,
            var_inputs=var_inputs,
        )  # fmt: skip

    def available_margin(self, portfolio: PortfolioLike) -> float:
        """``max_margin_usage x equity``, capped by ``portfolio.margin_available`` if present."""
        cap = self.cfg.max_margin_usage * float(portfolio.equity)
        broker = getattr(portfolio, "margin_available", None)
        return cap if broker is None else min(cap, float(broker))

    # ------------------------------------------------------------------ components
    def calculate_var(
        self,
        positions: Sequence[PositionLike],
        returns_history: np.ndarray,
        method: str = "variance_covariance",
        confidence: float | None = None,
        equity: float | None = None,
    ) -> dict[str, Any]:
        """``{'var', 'var_lower', 'var_upper', 'method'}``: daily VaR as a fraction of ``equity``.

        ``method``: ``variance_covariance`` (= ``parametric``), ``historical`` or
        ``monte_carlo`` (seed 0); bounds at 95 % (see :mod:`mtquant.risk_management.var`).
        Without ``equity`` the VaR is relative to the positions' gross notional.
        """
        if method not in _METHOD_ALIASES:
            raise DataError(f"VaR method must be one of {sorted(_METHOD_ALIASES)}; got {method!r}")
        conf = self.cfg.var_confidence if confidence is None else confidence
        notional = self.notionals(positions)
        base = float(np.abs(notional).sum()) if equity is None else float(equity)
        if not base > 0:
            raise DataError(f"VaR needs positive equity or a non-empty book; got {base}")
        var, lower, upper = var_lib.var_with_interval(
            np.asarray(returns_history, dtype=np.float64),
            notional / base,
            conf,
            method=_METHOD_ALIASES[method],  # type: ignore[arg-type]
        )
        return {"var": var, "var_lower": lower, "var_upper": upper, "method": method}

    def check_correlation_risk(
        self, positions: Sequence[PositionLike], correlation_matrix: np.ndarray
    ) -> tuple[bool, float]:
        """``(ok, max effective correlation of held legs)`` for a correlation (or covariance)."""
        corr = np.asarray(correlation_matrix, dtype=np.float64)
        n = self.universe.n
        if corr.shape != (n, n):
            raise DataError(f"correlation_matrix must be [{n}, {n}]; got {corr.shape}")
        var_lib.check_covariance(corr, "correlation_matrix", tol=1e-8)
        w = torch.from_numpy(self.notionals(positions)).unsqueeze(0)
        exposure = float(correlation_exposure(w, torch.from_numpy(corr))[0])
        return exposure <= self.cfg.max_correlation_exposure, exposure

    def _sector_gross(self, magnitudes: np.ndarray) -> dict[str, float]:
        out = dict.fromkeys(self.universe.sectors, 0.0)
        for sector, m in zip(self.sector_of, magnitudes, strict=True):
            out[sector] += float(m)
        return out

    def calculate_sector_allocation(self, positions: Sequence[PositionLike]) -> dict[str, float]:
        """Share of gross notional per sector (all sectors listed; all 0 for an empty book)."""
        gross = self._sector_gross(np.abs(self.notionals(positions)))
        total = sum(gross.values())
        return {s: (g / total if total > 0 else 0.0) for s, g in gross.items()}

    def check_margin_requirement(
        self, proposed_positions: Sequence[PositionLike], available_margin: float
    ) -> tuple[bool, float]:
        """``(ok, total margin in USD)``: ``sum |notional_i| x margin_rate_i <= available``."""
        total = float(np.abs(self.notionals(proposed_positions)) @ self.margin_rate)
        return total <= float(available_margin), total

    def risk_report(
        self, positions: Sequence[PositionLike], portfolio: PortfolioLike
    ) -> dict[str, Any]:
        """Everything a dashboard shows for a book: VaR (3 methods), ES, limits usage, regime.

        Evaluations report it for the system's last book (:func:`last_book_risk_rows`)."""
        equity = float(portfolio.equity)
        w = self.weights(positions, equity)
        conf = self.cfg.var_confidence
        report: dict[str, Any] = {"equity": equity, "gross_leverage": float(np.abs(w).sum())}
        for method in ("variance_covariance", "historical", "monte_carlo"):
            report[f"var_{method}"] = self.calculate_var(
                positions, self._returns, method, conf, equity
            )
        report["es_parametric"] = var_lib.expected_shortfall(self._returns, w, conf)
        report["es_historical"] = var_lib.expected_shortfall(
            self._returns, w, conf, method="historical"
        )
        report["correlation_exposure"] = self.check_correlation_risk(positions, self.covariance())[
            1
        ]
        report["weighted_correlation_exposure"] = self.tracker.get_max_correlation_exposure(w)
        report["sector_allocation"] = self.calculate_sector_allocation(positions)
        ok, margin = self.check_margin_requirement(positions, self.available_margin(portfolio))
        report["margin_required"] = margin
        report["margin_usage"] = margin / equity
        report["checks"] = self.check_portfolio_risk(positions, portfolio)
        report["regime"] = self.tracker.detect_regime_change() if self.tracker.count >= 2 else None
        return report


def last_book_risk_rows(
    risk_cfg: RiskConfig,
    universe: InstrumentUniverse,
    weights: np.ndarray,
    equity: float,
    returns: np.ndarray,
) -> list[dict[str, str]]:
    """:meth:`PortfolioRiskManager.risk_report` of a book (``weights [N]`` of ``equity``) over
    the instruments' daily ``returns [T, N]`` up to its day, as report rows."""
    manager = PortfolioRiskManager(risk_cfg, universe)
    manager.set_returns_history(returns)
    book = [
        BookPosition(s, float(w) * equity) for s, w in zip(manager.symbols, weights, strict=True)
    ]
    rep = manager.risk_report([p for p in book if p.notional != 0.0], BookAccount(equity))
    conf = f"{risk_cfg.var_confidence:.0%}"
    rows = [
        {"measure": f"VaR {conf} ({method.replace('_', ' ')})",
         "value": f"{v['var']:.3%} [{v['var_lower']:.3%}, {v['var_upper']:.3%}]"}
        for method in ("variance_covariance", "historical", "monte_carlo")
        for v in [rep[f"var_{method}"]]
    ]  # fmt: skip
    rows += [
        {"measure": f"ES {conf} (parametric)", "value": f"{rep['es_parametric']:.3%}"},
        {"measure": f"ES {conf} (historical)", "value": f"{rep['es_historical']:.3%}"},
        {"measure": "largest pairwise correlation exposure",
         "value": f"{rep['correlation_exposure']:.3f}"},
        {"measure": "position-weighted correlation exposure",
         "value": f"{rep['weighted_correlation_exposure']:.3f}"},
        {"measure": "gross leverage", "value": f"{rep['gross_leverage']:.3f} x equity"},
        {"measure": "margin usage", "value": f"{rep['margin_usage']:.3%}"},
        {"measure": "sector allocation (share of gross)",
         "value": ", ".join(f"{k} {v:.0%}" for k, v in rep["sector_allocation"].items())},
        {"measure": "the four layers", "value": rep["checks"][1]},
        {"measure": "correlation regime", "value": str(rep["regime"] or "none")},
    ]  # fmt: skip
    return rows
