"""``HierarchicalTradingSystem``: one decision cycle for inference and paper/live trading.

Decision flow of :meth:`HierarchicalTradingSystem.step` (the plan's 8 steps), at the close of
row ``t``::

    Portfolio (broker) ──► 1. meta state [1, 74] ◄── features row t (correlations, macro)
                            │  (observations.observe: the env's own observation function)
                            ▼
                    2. MetaController: allocation [1, S], appetite [1, 1] (deterministic mean)
                            │  3. hub.send_allocation ──► specialists
                            ▼
                    4. specialists: direction [1, N] from (market_s, instrument_obs, allocation_s)
                            │  5. hub: performance reports ──► meta
                            ▼
               sizing.target_weights ─► 6. risk_management.limits.enforce_limits
                            │            7. compliant: orders as proposed
                            ▼            8. limits bind: orders scaled down (recorded)
                 target units (kernel.target_units) − current units ─► List[Order]

Every numeric step is the function the batched environment uses (``observe``,
``HierarchicalPolicy`` in deterministic mode, ``SizingModule``, ``enforce_limits``,
``target_units``, ``order_mask``), so that orders sent to a
:class:`~mtquant.execution.paper_broker.PaperBroker` reproduce the environment's positions and
equity exactly (tests/integration/test_env_parity.py). Inference runs under
``torch.inference_mode``.

``market_data`` is ``{"features": FeatureSet, "t": int}``: the precomputed causal features and the
row of the close just seen (features at row ``t`` use data up to ``t`` only).

Latency: ``step()`` is on the live decision path (goal p99 <= 1 ms at batch 1), so the
account is turned into a kernel state once per call from plain lists, the per-specialist
reports are computed with Python floats (S and N are small: a torch op per value costs more
than the arithmetic), the universe's lookups and the features' dates are precomputed, and the
limits run in float64 exactly as the environment's risk transform runs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

from mtquant.agents.environments.observations import FeatureTape, observe
from mtquant.agents.sizing import SizingModule, position_of, target_weights
from mtquant.config.env import EnvConfig
from mtquant.errors import DataError
from mtquant.execution.kernel import KernelState, order_mask, target_units
from mtquant.execution.orders import Order, Portfolio, Position, Side
from mtquant.features.feature_set import FeatureSet
from mtquant.features.layout import RETURNS_LOOKBACK
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.limits import (
    BINDING_NAMES,
    RiskDiagnostics,
    RiskLimits,
    enforce_limits,
)

Policy = Callable[[TensorDictBase], TensorDictBase]  # a TensorDictModule or a baseline


@dataclass(frozen=True)
class Decision:
    """What one cycle decided (weights are notional / equity)."""

    row: int
    allocation: torch.Tensor | None  # [S]
    appetite: float | None
    direction: torch.Tensor | None  # [N]
    proposed_weights: torch.Tensor  # [N]
    executed_weights: torch.Tensor  # [N]
    binding: str  # risk layer that bound last ("none" when compliant)
    n_orders: int


class HierarchicalTradingSystem:
    """Meta-controller + specialists + risk limits + communication hub as one decision step.

    ``policy`` is the actor that acts in the environment: a
    :class:`~mtquant.agents.hierarchical.policy.HierarchicalPolicy` built from ``meta_controller``
    and ``specialists`` when not given, or any tensordict module (e.g. a baseline) writing the
    hierarchical action or ``target_weights``. When it writes no ``target_weights``, the
    environment's sizing (:func:`~mtquant.agents.sizing.target_weights` at
    ``env_cfg.sizing_target_vol``, capped at ``env_cfg.max_gross_weight``) is applied.
    """

    def __init__(
        self,
        meta_controller: torch.nn.Module | None,
        specialists: Mapping[str, torch.nn.Module] | None,
        portfolio_risk_manager: RiskLimits,
        communication_hub: Any | None,
        universe: InstrumentUniverse,
        env_cfg: EnvConfig,
        policy: Policy | None = None,
        allocation_change_threshold: float = 0.05,
    ) -> None:
        if policy is None:
            from mtquant.agents.hierarchical.policy import HierarchicalPolicy

            if meta_controller is None or specialists is None:
                raise DataError(
                    "HierarchicalTradingSystem needs a policy or a meta-controller and specialists"
                )
            policy = HierarchicalPolicy(meta_controller, specialists)  # type: ignore[arg-type]
        self.policy = policy
        self.meta_controller, self.specialists = meta_controller, specialists
        self.limits = portfolio_risk_manager
        self.hub = communication_hub
        self.universe, self.env_cfg = universe, env_cfg
        self.sizing = SizingModule(
            universe.specialist_index(), env_cfg.sizing_target_vol, env_cfg.max_gross_weight
        )
        self.usd_base = universe.terms()["usd_base"]
        self.allocation_change_threshold = allocation_change_threshold
        self.decisions: list[Decision] = []
        self.allocation_changes: list[dict[str, Any]] = []
        self.risk_interventions: list[dict[str, Any]] = []
        self._tapes: dict[int, FeatureTape] = {}
        self._when: list[datetime] = []  # the features' dates as datetimes, by row
        self._last_allocation: torch.Tensor | None = None
        self._dates: Any = None
        self.last_reports: list[Any] = []
        # per-call lookups, computed once
        self._symbols = list(universe.symbols)
        self._sym_index = {sym: k for k, sym in enumerate(self._symbols)}
        self._spec_names = list(universe.specialists)
        self._spec_idx = universe.specialist_index()
        self._spec_of = self._spec_idx.tolist()  # specialist of each instrument
        n_s = [float(self._spec_of.count(s)) for s in range(len(self._spec_names))]
        self._entropy_scale = [c * math.log(3) for c in n_s]  # n_s log 3: max entropy

    # ------------------------------------------------------------------ helpers of the plan
    def _tape(self, features: FeatureSet) -> FeatureTape:
        key = id(features)
        if key not in self._tapes:
            self._tapes = {key: FeatureTape.build(features, self.universe, "cpu")}
            self._when = list(features.dates.to_pydatetime())
        return self._tapes[key]

    def _index_of(self, symbol: str) -> int:
        try:
            return self._sym_index[symbol]
        except KeyError:
            raise KeyError(f"unknown instrument {symbol!r}; known: {self._symbols}") from None

    def kernel_state(
        self, portfolio: Portfolio, row: int, positions: Sequence[Position] | None = None
    ) -> KernelState:
        """The account as a ``B = 1`` kernel state (units and entry prices by symbol);
        ``positions`` replace the portfolio's own when given."""
        n, s = self.universe.n, len(self._spec_names)
        units, entry = [0.0] * n, [0.0] * n
        for pos in portfolio.positions if positions is None else positions:
            k = self._index_of(pos.symbol)
            units[k], entry[k] = pos.units, pos.entry_price
        f64 = torch.float64
        returns = portfolio.returns_history
        if returns.numel() != RETURNS_LOOKBACK:
            raise DataError(
                f"portfolio.returns_history has {returns.numel()} returns; "
                f"expected {RETURNS_LOOKBACK}"
            )
        stats = portfolio.specialist_stats
        if stats.numel():
            m1, m2, hit = stats.to(f64, copy=True)[:, None]  # a copy: the state owns its rows
        else:
            m1, m2, hit = torch.zeros(3, 1, s, dtype=f64)
        return KernelState(
            units=torch.tensor([units], dtype=f64),
            equity=torch.tensor([portfolio.equity], dtype=f64),
            entry_price=torch.tensor([entry], dtype=f64),
            t=torch.tensor([row]),
            peak_equity=torch.tensor([portfolio.peak_equity], dtype=f64),
            returns=returns.to(f64, copy=True).reshape(1, RETURNS_LOOKBACK),
            spec_m1=m1,
            spec_m2=m2,
            spec_hit=hit,
        )

    def observation(self, market_data: Mapping[str, Any], portfolio: Portfolio) -> TensorDict:
        """Every observation the policy reads, ``batch_size=[1]``, exactly as the env writes it."""
        features, row = self._unpack(market_data)
        obs = observe(self.kernel_state(portfolio, row), self._tape(features))
        return TensorDict(obs, batch_size=[1])

    def get_portfolio_state(
        self, portfolio: Portfolio, market_data: Mapping[str, Any]
    ) -> torch.Tensor:
        """The meta-controller's 74-dim state ``[74]``."""
        return self.observation(market_data, portfolio)["meta_state"][0]

    def get_specialist_states(
        self, market_data: Mapping[str, Any], portfolio: Portfolio
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Per specialist: its domain features ``[D_s]`` and instrument observations ``[n_s, 50]``."""
        td = self.observation(market_data, portfolio)
        idx = self._spec_idx
        return {
            name: {
                "market": td["market", name][0],
                "instrument_obs": td["instrument_obs"][0, idx == s],
            }
            for s, name in enumerate(self._spec_names)
        }

    def flatten_specialist_actions(
        self,
        specialist_actions: Mapping[str, torch.Tensor],
        portfolio: Portfolio,
        market_data: Mapping[str, Any],
    ) -> list[Order]:
        """Orders that move the account to each specialist's target weights (``[n_s]`` each)."""
        weights = torch.cat([specialist_actions[s].reshape(-1) for s in self._spec_names])
        return self._orders(weights[None], portfolio, market_data, reason="target")

    def scale_down_to_risk_limit(
        self, orders: list[Order], portfolio: Portfolio, market_data: Mapping[str, Any]
    ) -> list[Order]:
        """Orders whose resulting book satisfies the risk limits (``enforce_limits``: the
        correlation, sector, gross, position, margin and VaR layers only ever shrink legs)."""
        features, row = self._unpack(market_data)
        state = self.kernel_state(portfolio, row)
        delta = torch.zeros(1, self.universe.n, dtype=torch.float64)
        for o in orders:
            delta[0, self._index_of(o.symbol)] += o.signed_quantity
        close = self._tape(features).prices.close[row][None]
        unit_usd = torch.where(self.usd_base, torch.ones_like(close), close)
        weights = (state.units + delta) * unit_usd / state.equity[:, None]
        cov = self._tape(features).cov[row][None].to(weights.dtype)
        executed, _ = enforce_limits(weights, cov, self.limits)
        return self._orders(executed, portfolio, market_data, reason="risk_scaled")

    # ------------------------------------------------------------------ the decision cycle
    def step(
        self,
        market_data: Mapping[str, Any],
        portfolio: Portfolio,
        current_positions: list[Any] | None = None,
    ) -> list[Order]:
        """One decision at the close of ``market_data["t"]``: the approved orders (module doc)."""
        features, row = self._unpack(market_data)
        positions = portfolio.positions if current_positions is None else list(current_positions)
        tape = self._tape(features)
        when = self._when[row]
        with torch.inference_mode(), set_exploration_type(ExplorationType.DETERMINISTIC):
            state = self.kernel_state(portfolio, row, positions)
            td = TensorDict(observe(state, tape), batch_size=[1])  # 1. meta observes
            td = self.policy(td)  # 2. meta decides, 4. specialists act
            self._dates = features.dates
            cid = self.hub.new_correlation_id() if self.hub is not None else ""
            self._broadcast(td, portfolio, cid, when)  # 3. allocations down
            proposed = td.get("target_weights", None)
            if proposed is None:
                proposed = self._size(td)
            # 6. risk check in float64, as the env's risk transform does, back in the policy dtype
            executed64, diag = enforce_limits(
                proposed.to(torch.float64), td.get("cov").to(torch.float64), self.limits
            )
            executed = executed64.to(proposed.dtype)
            self._collect_reports(td, executed, portfolio, positions, cid, when)  # 5. reports up
            reason = "target" if int(diag.binding) == 0 else "risk_scaled"  # 7 / 8
            close = tape.prices.close[row][None]
            orders = self._orders_for(executed, state, close, when, reason)
        self._record(row, td, proposed, executed, diag, len(orders))
        return orders

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _unpack(market_data: Mapping[str, Any]) -> tuple[FeatureSet, int]:
        try:
            features, row = market_data["features"], int(market_data["t"])
        except KeyError as exc:
            raise DataError(f"market_data needs keys 'features' and 't'; missing {exc}") from None
        if not 0 <= row < features.n_days:
            raise DataError(
                f"market_data row t={row} outside the features' rows [0, {features.n_days})"
            )
        return features, row

    def _size(self, td: TensorDictBase) -> torch.Tensor:
        """The env's sizing of the hierarchical action (what :class:`SizingModule` writes)."""
        return target_weights(
            position_of(td),
            td.get(("action", "allocation")),
            td.get(("action", "appetite")),
            td.get("vol"),
            self.sizing.specialist_index,
            self.sizing.target_vol,
            self.sizing.max_weight,
        )

    def _orders(
        self,
        weights: torch.Tensor,
        portfolio: Portfolio,
        market_data: Mapping[str, Any],
        reason: str,
    ) -> list[Order]:
        features, row = self._unpack(market_data)
        state = self.kernel_state(portfolio, row)
        close = self._tape(features).prices.close[row][None]
        return self._orders_for(weights, state, close, self._when[row], reason)

    def _orders_for(
        self,
        weights: torch.Tensor,
        state: KernelState,
        close: torch.Tensor,
        when: datetime,
        reason: str,
    ) -> list[Order]:
        """Orders from the account ``state`` to ``weights [1, N]`` at ``close [1, N]``."""
        target = target_units(weights, state.equity, close, self.usd_base)
        delta = target - state.units
        send = order_mask(delta, state.equity, close, self.usd_base, self.env_cfg.rebalance_band)
        ks = send[0].nonzero().flatten().tolist()
        if not ks:
            return []
        d, c = delta[0].tolist(), close[0].tolist()
        return [
            Order(
                symbol=self._symbols[k],
                side=Side.BUY if d[k] > 0 else Side.SELL,
                quantity=abs(d[k]),
                price=c[k],
                timestamp=when,
                reason=reason,
            )
            for k in ks
        ]

    def _broadcast(
        self, td: TensorDictBase, portfolio: Portfolio, cid: str, when: datetime
    ) -> None:
        """Step 3: the meta-controller's allocation, appetite and market regime to each specialist.

        The regime is the meta-controller's rule (:func:`market_regime`) on the account's
        last 30 daily returns."""
        allocation = td.get(("action", "allocation"), None)
        if self.hub is None or allocation is None:
            return
        from mtquant.agents.hierarchical.meta_controller import market_regime

        appetite = float(td.get(("action", "appetite")).reshape(-1)[0])
        self.hub.send_allocation(
            allocation[0].double().numpy(),
            self._spec_names,
            min(max(appetite, 0.0), 1.0),
            market_regime(portfolio.returns_history),
            correlation_id=cid,
            timestamp=when,
        )

    def _collect_reports(
        self,
        td: TensorDictBase,
        executed: torch.Tensor,
        portfolio: Portfolio,
        positions: Sequence[Position],
        cid: str,
        when: datetime,
    ) -> None:
        """Step 5: each specialist's performance report to the meta-controller.

        From the account (PaperBroker keeps the env's EWMA statistics): ``realized_pnl`` = EWMA
        daily net P&L of the specialist's instruments in USD, ``unrealized_pnl`` of its open
        positions, ``sharpe_ratio`` / ``win_rate`` its annualised EWMA Sharpe (clipped to +-10)
        and hit rate; from the policy: ``confidence_score = 1 - entropy / (n_s log 3)`` of its
        direction heads and ``risk_utilization`` = its executed volatility sum_i |w_i| vol_i over
        its budget ``allocation_s * appetite * target_vol * S`` (sizing's rule). Float64 Python
        arithmetic in the order the tensor version used.
        """
        if self.hub is None or portfolio.specialist_stats.numel() == 0:
            return
        spec_of, names = self._spec_of, self._spec_names
        m1, m2, hit = portfolio.specialist_stats.double().tolist()
        unreal = [0.0] * len(names)
        for pos in positions:
            unreal[spec_of[self._index_of(pos.symbol)]] += pos.unrealized_pnl
        entropy = td.get(("entropy", "specialists"), None)
        ent = None if entropy is None else entropy[0].double().tolist()
        used = [0.0] * len(names)
        for k, (w, v) in enumerate(
            zip(executed[0].double().tolist(), td.get("vol")[0].double().tolist(), strict=True)
        ):
            used[spec_of[k]] += abs(w) * v
        allocation = td.get(("action", "allocation"), None)
        appetite = td.get(("action", "appetite"), None)
        target_vol, s_count = self.env_cfg.sizing_target_vol, len(names)
        if allocation is None or appetite is None:
            budget = [target_vol] * s_count
        else:
            app = float(appetite.reshape(-1)[0])
            budget = [a * app * target_vol * s_count for a in allocation[0].double().tolist()]
        reports = {}
        for s, name in enumerate(names):
            sd = math.sqrt(max(m2[s] - m1[s] * m1[s], 0.0))
            sharpe = min(max(m1[s] / (sd + 1e-8) * 252**0.5, -10.0), 10.0)
            conf = 1.0 if ent is None else min(max(1 - ent[s] / self._entropy_scale[s], 0.0), 1.0)
            reports[name] = {
                "confidence_score": conf,
                "realized_pnl": m1[s] * portfolio.equity,
                "unrealized_pnl": unreal[s],
                "sharpe_ratio": sharpe,
                "win_rate": hit[s],
                "risk_utilization": used[s] / budget[s] if budget[s] > 0 else 0.0,
            }
        self.last_reports = self.hub.collect_reports(reports, correlation_id=cid, timestamp=when)

    def _record(
        self,
        row: int,
        td: TensorDictBase,
        proposed: torch.Tensor,
        executed: torch.Tensor,
        diag: RiskDiagnostics,
        n_orders: int,
    ) -> None:
        allocation = td.get(("action", "allocation"), None)
        appetite = td.get(("action", "appetite"), None)
        direction = td.get(("action", "direction"), None)
        binding = BINDING_NAMES[int(diag.binding)]
        alloc = None if allocation is None else allocation[0].clone()
        self.decisions.append(
            Decision(
                row=row,
                allocation=alloc,
                appetite=None if appetite is None else float(appetite.reshape(-1)[0]),
                direction=None if direction is None else direction[0].clone(),
                proposed_weights=proposed[0].clone(),
                executed_weights=executed[0].clone(),
                binding=binding,
                n_orders=n_orders,
            )
        )
        if alloc is not None:
            prev = self._last_allocation
            change = None if prev is None else float((alloc - prev).abs().max())
            if change is None or change > self.allocation_change_threshold:
                self.allocation_changes.append(
                    {"row": row, "from": prev, "to": alloc, "max_change": change}
                )
            self._last_allocation = alloc
        if binding != "none":
            self.risk_interventions.append(
                {
                    "row": row,
                    "binding": binding,
                    "scale": float(diag.scale[0]),
                    "proposed_var": float(diag.proposed_var[0]),
                    "executed_var": float(diag.executed_var[0]),
                }
            )
