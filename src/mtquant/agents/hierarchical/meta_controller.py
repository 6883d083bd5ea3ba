"""Level 1 of the hierarchy: the meta-controller (portfolio manager).

It reads the portfolio state (74 = 30 returns + volatility + drawdown + 28 correlations +
9 specialist metrics + 5 macro for 8 instruments / 3 specialists, see
:mod:`mtquant.features.layout`) and decides the capital allocation over the specialists
(a point of the simplex), the risk appetite in [0, 1] and a state value for PPO.

Example:
    >>> meta = MetaController()
    >>> allocation, appetite, value = meta(torch.zeros(4, 74))
    >>> allocation.shape, appetite.shape, value.shape
    (torch.Size([4, 3]), torch.Size([4, 1]), torch.Size([4, 1]))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mtquant.agents.allocation import kelly_allocation
from mtquant.agents.hierarchical.distributions import MetaActionDistribution
from mtquant.errors import ConfigError, DataError
from mtquant.features.layout import (
    MACRO_DIM,
    PLAN_STATE_DIM,
    RETURNS_LOOKBACK,
    SPECIALIST_METRICS,
    PortfolioStateLayout,
    pack_meta_state,
)

TRADING_DAYS = 252
KAPPA_MIN, KAPPA_MAX = 1.0, 1000.0  # range of the learned total concentrations


class MetaController(nn.Module):
    """Portfolio state ``[B, state_dim]`` -> allocation ``[B, S]``, appetite ``[B, 1]``, value ``[B, 1]``.

    Layers (the plan's): ``Linear(state_dim, 256) + ReLU + LayerNorm -> Linear(256, 128) + ReLU +
    Dropout(0.2)``; heads: allocation ``Linear(128, S) + softmax``, risk appetite
    ``Linear(128, 1) + sigmoid``, value ``Linear(128, 1)``. For PPO, :meth:`distribution` returns a
    Dirichlet x Beta whose means are those heads; the total concentrations ``kappa`` (allocation)
    and ``kappa_b`` (appetite) start at the configured values and are learned (log-parametrised,
    clamped to [1, 1000]) unless ``learn_concentration`` is False.
    """

    def __init__(
        self,
        state_dim: int = PLAN_STATE_DIM,
        n_specialists: int = 3,
        hidden_dim: int = 256,
        hidden_dim_2: int = 128,
        dropout: float = 0.2,
        allocation_concentration: float = 20.0,
        appetite_concentration: float = 10.0,
        learn_concentration: bool = True,
    ) -> None:
        super().__init__()
        self.state_dim = state_dim
        self.n_specialists = n_specialists
        self.hidden_dim, self.hidden_dim_2 = hidden_dim, hidden_dim_2  # widths (export metadata)
        self.encoder = nn.Sequential(
            nn.Linear(state_dim, hidden_dim),
            nn.ReLU(),
            nn.LayerNorm(hidden_dim),
            nn.Linear(hidden_dim, hidden_dim_2),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.allocation_head = nn.Linear(hidden_dim_2, n_specialists)
        self.risk_head = nn.Linear(hidden_dim_2, 1)
        self.value_head = nn.Linear(hidden_dim_2, 1)
        log_k = torch.tensor([math.log(allocation_concentration), math.log(appetite_concentration)])
        self.log_concentration = nn.Parameter(log_k, requires_grad=learn_concentration)

    def concentrations(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(kappa, kappa_b)``: total concentrations of the Dirichlet and the Beta."""
        k = self.log_concentration.exp().clamp(KAPPA_MIN, KAPPA_MAX)
        return k[0], k[1]

    def forward(
        self, portfolio_state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Distribution means and value.

        Returns:
            allocations ``[B, S]`` (softmax over specialists), risk_appetite ``[B, 1]``
            (sigmoid, 0 = defensive, 1 = aggressive), value ``[B, 1]``.
        """
        h = self.encoder(portfolio_state)
        allocations = torch.softmax(self.allocation_head(h), dim=-1)
        risk_appetite = torch.sigmoid(self.risk_head(h))
        return allocations, risk_appetite, self.value_head(h)

    def distribution(
        self, portfolio_state: torch.Tensor
    ) -> tuple[MetaActionDistribution, torch.Tensor]:
        """``(Dirichlet x Beta over (allocation, appetite), value [B, 1])`` for PPO."""
        allocations, appetite, value = self(portfolio_state)
        kappa, kappa_b = self.concentrations()
        return MetaActionDistribution(allocations, appetite, kappa, kappa_b), value

    def get_portfolio_state(
        self, portfolio: PortfolioSnapshot, specialists: Sequence[str]
    ) -> torch.Tensor:
        """Build the ``[state_dim]`` state of one portfolio (see :func:`portfolio_state`)."""
        state = portfolio_state(portfolio, specialists)
        if state.shape[-1] != self.state_dim:
            raise DataError(
                f"portfolio state has {state.shape[-1]} features for {portfolio.n_instruments} "
                f"instruments / {len(specialists)} specialists; MetaController.state_dim="
                f"{self.state_dim}"
            )
        return state

    def detect_market_regime(self, returns: torch.Tensor | np.ndarray) -> str:
        """'bull' | 'bear' | 'neutral' | 'volatile' from daily returns (see :func:`market_regime`)."""
        return market_regime(returns)

    def calculate_kelly_allocation(
        self,
        specialist_sharpes: Sequence[float] | np.ndarray,
        specialist_vols: Sequence[float] | np.ndarray | None = None,
        max_fraction: float = 0.6,
    ) -> np.ndarray:
        """Capped Kelly weights over the specialists (see :func:`kelly_allocation`)."""
        return kelly_allocation(specialist_sharpes, specialist_vols, max_fraction)


@dataclass
class PortfolioSnapshot:
    """The parts of the meta-controller state for one portfolio.

    ``returns``: the account's daily returns as fractions, oldest first (the last 30 are used;
    fewer are left-padded with zeros, as an account's history starts). ``equity``: the equity
    curve (drawdown = 1 - last / running peak). ``specialist_metrics``: ``[S, 3]`` per specialist
    the EWMA daily return in percent, the annualised Sharpe and the hit rate, as
    :func:`mtquant.execution.kernel.specialist_metrics` computes them. ``correlations``: ``[N, N]``
    correlation matrix of the instruments' returns (its upper triangle, row-major, goes into the
    state). ``macro``: ``[5]`` macro inputs, normalised as the feature set's ``macro``.
    """

    returns: torch.Tensor  # [T]
    equity: torch.Tensor  # [T]
    specialist_metrics: torch.Tensor  # [S, 3]
    correlations: torch.Tensor  # [N, N]
    macro: torch.Tensor  # [5]

    @property
    def n_instruments(self) -> int:
        return int(self.correlations.shape[-1])


def portfolio_state(portfolio: PortfolioSnapshot, specialists: Sequence[str]) -> torch.Tensor:
    """The ``PortfolioStateLayout`` vector (float32) of a :class:`PortfolioSnapshot`, packed by
    :func:`~mtquant.features.layout.pack_meta_state`: the builder the environment uses, so the
    same account gives the network the same state in training, backtests and live trading
    (returns and volatility in percent, population standard deviation of the 30 returns)."""
    n_spec = len(specialists)
    corr = torch.as_tensor(portfolio.correlations, dtype=torch.float64)
    metrics = torch.as_tensor(portfolio.specialist_metrics, dtype=torch.float64)
    macro = torch.as_tensor(portfolio.macro, dtype=torch.float64).reshape(-1)
    if corr.ndim != 2 or corr.shape[0] != corr.shape[1]:
        raise DataError(f"PortfolioSnapshot.correlations: expected [N, N], got {tuple(corr.shape)}")
    if tuple(metrics.shape) != (n_spec, SPECIALIST_METRICS):
        raise DataError(
            f"PortfolioSnapshot.specialist_metrics: expected [{n_spec}, {SPECIALIST_METRICS}] for "
            f"specialists {list(specialists)}, got {tuple(metrics.shape)}"
        )
    if macro.numel() != MACRO_DIM:
        raise DataError(
            f"PortfolioSnapshot.macro: expected {MACRO_DIM} values, got {macro.numel()}"
        )
    equity = torch.as_tensor(portfolio.equity, dtype=torch.float64).reshape(-1)
    if equity.numel() == 0 or bool((equity <= 0).any()):
        raise DataError("PortfolioSnapshot.equity: expected a non-empty curve of positive values")
    rets = torch.as_tensor(portfolio.returns, dtype=torch.float64).reshape(-1)[-RETURNS_LOOKBACK:]
    padded = torch.zeros(1, RETURNS_LOOKBACK, dtype=torch.float64)
    padded[0, RETURNS_LOOKBACK - rets.numel() :] = rets
    iu = torch.triu_indices(corr.shape[0], corr.shape[0], offset=1)
    state = pack_meta_state(
        padded,
        (1.0 - equity[-1] / equity.max()).reshape(1),
        corr[iu[0], iu[1]][None].float(),
        metrics.reshape(1, -1),
        macro[None].float(),
    )
    return state[0]


def market_regime(
    returns: torch.Tensor | np.ndarray | Sequence[float],
    vol_threshold: float = 0.30,
    trend_threshold: float = 0.05,
) -> str:
    """Regime of a window of daily returns.

    Rule: annualised volatility ``std(ddof=1) * sqrt(252)`` above ``vol_threshold`` (30%) ->
    'volatile'; otherwise the compounded return over the window ``prod(1 + r) - 1`` above
    ``+trend_threshold`` (5%) -> 'bull', below ``-trend_threshold`` -> 'bear', else 'neutral'.
    Python floats: it runs in every live decision cycle on ~30 values.
    """
    if isinstance(returns, torch.Tensor):
        r = returns.detach().reshape(-1).tolist()
    else:
        r = [float(x) for x in np.asarray(returns, dtype=np.float64).reshape(-1)]
    if len(r) < 2 or not all(math.isfinite(x) for x in r):
        raise DataError(f"detect_market_regime: need >= 2 finite daily returns, got {len(r)}")
    mean = math.fsum(r) / len(r)
    var = math.fsum((x - mean) ** 2 for x in r) / (len(r) - 1)
    if math.sqrt(var * TRADING_DAYS) > vol_threshold:
        return "volatile"
    total = math.prod(1.0 + x for x in r) - 1.0
    if total > trend_threshold:
        return "bull"
    if total < -trend_threshold:
        return "bear"
    return "neutral"


def build_meta_controller(
    agents_cfg: object, n_instruments: int, n_specialists: int
) -> MetaController:
    """A :class:`MetaController` from ``agents.meta_controller``; ``state_dim`` None = the layout's."""
    cfg = agents_cfg.meta_controller  # type: ignore[attr-defined]
    expected = PortfolioStateLayout(n_instruments, n_specialists).dim
    if cfg.state_dim is not None and cfg.state_dim != expected:
        raise ConfigError(
            f"config agents.meta_controller.state_dim={cfg.state_dim}: expected {expected} for "
            f"{n_instruments} instruments and {n_specialists} specialists"
        )
    return MetaController(
        state_dim=expected,
        n_specialists=n_specialists,
        hidden_dim=cfg.hidden_dim,
        hidden_dim_2=cfg.hidden_dim_2,
        dropout=cfg.dropout,
        allocation_concentration=cfg.allocation_concentration,
        appetite_concentration=cfg.appetite_concentration,
        learn_concentration=cfg.learn_concentration,
    )
