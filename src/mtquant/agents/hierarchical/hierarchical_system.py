"""``HierarchicalTradingSystem``: one decision cycle for inference and paper/live trading.

Decision flow of :meth:`HierarchicalTradingSystem.step` (the plan's 8 steps), at the close of
row ``t``::

    Portfolio (broker) ──► kernel state [B = 1] ──► specialist_metrics (Sharpe, hit rate, ...)
                            │                                   │ (one computation, two readers)
                            ▼                                   ▼
                    1. meta state [1, 74] ◄── features row t (correlations, macro)
                            │  (observations.observe: the env's own observation function)
                            ▼
                    2. MetaController: allocation [1, S], appetite [1, 1] (deterministic mean)
                    4. specialists: direction [1, N] from (market_s, instrument_obs, allocation_s)
                            │  3. hub: allocation, appetite, regime ──► specialists
                            ▼
               sizing.target_weights ─► 6. PortfolioRiskManager.guard (risk_management.guard):
                            │               limits, circuit breaker, pre-trade gate
                            │            5. hub: performance reports ──► meta
                            │            7. compliant: orders as proposed
                            ▼            8. limits / breaker bind: orders scaled down; the gate
                            │               refuses orders (journal; hub alert on a breaker trip)
                 target units (kernel.target_units) − current units ─► List[Order]

Every numeric step is the function the batched environment uses (``observe``,
``HierarchicalPolicy`` in deterministic mode, ``SizingModule``, ``guard_book``,
``target_units``, ``order_mask``), so that orders sent to a
:class:`~mtquant.execution.paper_broker.PaperBroker` reproduce the environment's positions and
equity exactly (tests/integration/test_env_parity.py). Inference runs under
``torch.inference_mode``.

This module holds the cycle, the account -> kernel state adapter (:meth:`kernel_state`,
:meth:`observation`) and the plan's helpers. The messaging of steps 3 and 5 is
:mod:`~mtquant.agents.hierarchical.specialist_reports` (its Sharpe ratios and hit rates are the
:func:`~mtquant.execution.kernel.specialist_metrics` the meta state holds); the records of each
cycle are the :class:`~mtquant.agents.hierarchical.journal.DecisionJournal`.

``market_data`` is ``{"features": FeatureSet, "t": int}``: the precomputed causal features and the
row of the close just seen (features at row ``t`` use data up to ``t`` only).

Besides the plan's steps, each cycle: stops with a :class:`~mtquant.errors.DataError` when an
account number is not finite (a broken feed is never traded on; the features are checked when
:func:`~mtquant.features.compute_features` builds them); reports the
specialists whose domain features are anomalous today
(:meth:`~mtquant.agents.hierarchical.base_specialist.BaseSpecialist.anomalous_days`: ``|z| > 4``
against their last 60 days) in the journal and as a hub alert. (The hub's coordination signals
between specialists are counted on the executed books in the evaluation reports, off the
latency path.) The account's circuit-breaker state lives here, as it
lives in the risk transform for the environment's accounts; :meth:`reset_account` restarts it
for a new account.

Latency: ``step()`` is on the live decision path (goal p99 <= 1 ms at batch 1; ``scripts/bench.py``
``decision_latency_ms``). A :class:`HierarchicalPolicy` (alone or ``with_sizing``) is run through
:meth:`HierarchicalPolicy.act`: the same operations as its deterministic forward without the
log-probs, values and tensordicts only PPO reads; other policies go through their tensordict
forward. The account becomes a kernel state from plain lists in one tensor conversion, the
specialist metrics are computed once for the meta state and the reports, the covariance goes to
the limits as float32 (only the entries read are converted), the reports are Python floats, and
the universe's lookups and the features' dates are precomputed. Measured on 2 CPU cores shared
with another developer (one torch thread, the bench's config and loop, 300 timed calls after a
warm-up, runs alternated with the previous code, load average 0.8-1.6): p50 ~0.8-0.9 ms and p99
~1.0-1.2 ms, against ~1.2-1.4 / ~1.5-2.4 ms before (hot loop: 0.75 against 1.15 ms). The rest is
the per-call overhead of ~280 small torch ops (median in the loop): policy ~270 us (meta MLP,
three encoders, the fused heads), ``enforce_limits`` ~175 us (~95 ops), ``observe`` ~90 us, the
regime rule (numpy on 30 returns) ~55 us, orders ~40 us, kernel state ~33 us, sizing ~28 us,
reports ~25 us, specialist metrics ~22 us, journal ~20 us.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictSequential
from torchrl.envs.utils import ExplorationType, set_exploration_type

from mtquant.agents.environments.observations import FeatureTape, observe
from mtquant.agents.hierarchical.base_specialist import BaseSpecialist
from mtquant.agents.hierarchical.journal import Decision, DecisionJournal
from mtquant.agents.hierarchical.policy import HierarchicalPolicy
from mtquant.agents.hierarchical.specialist_reports import SpecialistLayout, SpecialistMessenger
from mtquant.agents.sizing import SizingModule, position_of, target_weights
from mtquant.config.env import EnvConfig
from mtquant.errors import ConfigError, DataError
from mtquant.execution.kernel import KernelState, order_mask, specialist_metrics, target_units
from mtquant.execution.orders import Order, Portfolio, Position, Side
from mtquant.features.feature_set import FeatureSet
from mtquant.features.layout import RETURNS_LOOKBACK
from mtquant.features.risk_inputs import var_tape
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.correlation_tracker import SPIKE
from mtquant.risk_management.guard import (
    ALERTS,
    MIN_ORDER_WEIGHT,
    PRE_TRADE_REASONS,
    BreakerState,
    Guarded,
)
from mtquant.risk_management.limits import enforce_limits
from mtquant.risk_management.portfolio_risk_manager import PortfolioRiskManager
from mtquant.risk_management.var_models import VarInputs, VarTape

__all__ = ["CycleAction", "Decision", "HierarchicalTradingSystem", "Policy"]

Policy = Callable[[TensorDictBase], TensorDictBase]  # a TensorDictModule or a baseline


class CycleAction(NamedTuple):
    """What the policy decided in one cycle, ``[1, *]`` (None where the policy writes none)."""

    allocation: torch.Tensor | None  # [1, S]
    appetite: torch.Tensor | None  # [1, 1]
    direction: torch.Tensor | None  # [1, N] int64
    specialist_entropy: torch.Tensor | None  # [1, S]
    proposed: torch.Tensor  # [1, N] target weights before the risk check


def _hooked(module: torch.nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _direct_actor(
    policy: Policy, sizing: SizingModule
) -> tuple[HierarchicalPolicy, SizingModule] | None:
    """``(actor, sizing)`` when ``policy`` is a :class:`HierarchicalPolicy` (sized by ``sizing``)
    or exactly its ``with_sizing`` composition, without hooks of their own: the cycle then calls
    :meth:`HierarchicalPolicy.act` (the numbers of their forward, without tensordicts)."""
    if isinstance(policy, TensorDictSequential) and type(policy) is TensorDictSequential:
        parts = list(policy.module)
        if len(parts) != 2 or type(parts[1]) is not SizingModule or _hooked(policy):
            return None
        policy, sizing = parts[0], cast(SizingModule, parts[1])
    if not isinstance(policy, HierarchicalPolicy) or type(policy) is not HierarchicalPolicy:
        return None
    return None if _hooked(policy) or _hooked(sizing) else (policy, sizing)


class HierarchicalTradingSystem:
    """Meta-controller + specialists + risk limits + communication hub as one decision step.

    ``policy`` is the actor that acts in the environment: a
    :class:`~mtquant.agents.hierarchical.policy.HierarchicalPolicy` built from ``meta_controller``
    and ``specialists`` when not given, or any tensordict module (e.g. a baseline) writing the
    hierarchical action or ``target_weights``. When it writes no ``target_weights``, the
    environment's sizing (:func:`~mtquant.agents.sizing.target_weights` at
    ``env_cfg.sizing_target_vol``, capped at ``env_cfg.max_gross_weight``) is applied.
    The decisions are kept by a :class:`~mtquant.agents.hierarchical.journal.DecisionJournal`
    (``decisions``, ``allocation_changes``, ``risk_interventions``); with a hub, the messages go
    through a :class:`~mtquant.agents.hierarchical.specialist_reports.SpecialistMessenger`.
    """

    def __init__(
        self,
        meta_controller: torch.nn.Module | None,
        specialists: Mapping[str, torch.nn.Module] | None,
        portfolio_risk_manager: PortfolioRiskManager,
        communication_hub: Any | None,
        universe: InstrumentUniverse,
        env_cfg: EnvConfig,
        policy: Policy | None = None,
        allocation_change_threshold: float = 0.05,
    ) -> None:
        if policy is None:
            if meta_controller is None or specialists is None:
                raise DataError(
                    "HierarchicalTradingSystem needs a policy or a meta-controller and specialists"
                )
            policy = HierarchicalPolicy(meta_controller, specialists)  # type: ignore[arg-type]
        self.policy = policy
        self.meta_controller, self.specialists = meta_controller, specialists
        self.risk = portfolio_risk_manager
        floor = max(env_cfg.rebalance_band, MIN_ORDER_WEIGHT)
        if portfolio_risk_manager.rules.min_order != floor:
            raise ConfigError(
                f"PortfolioRiskManager was built for an order floor of "
                f"{portfolio_risk_manager.rules.min_order}, but env.rebalance_band="
                f"{env_cfg.rebalance_band} sends orders above {floor}: build it with "
                "rebalance_band=env_cfg.rebalance_band"
            )
        self.limits = portfolio_risk_manager.limits
        self.breaker = BreakerState.fresh(1)
        self.hub = communication_hub
        self.universe, self.env_cfg = universe, env_cfg
        self.sizing = SizingModule(
            universe.specialist_index(), env_cfg.sizing_target_vol, env_cfg.max_gross_weight
        )
        self.usd_base = universe.terms()["usd_base"]
        self.journal = DecisionJournal(allocation_change_threshold)
        self.layout = SpecialistLayout(universe, env_cfg.sizing_target_vol)
        self.messenger = None if self.hub is None else SpecialistMessenger(self.hub, self.layout)
        self.last_reports: list[Any] = []
        self._direct = _direct_actor(policy, self.sizing)
        self._tapes: dict[int, FeatureTape] = {}
        self._var_tape: VarTape | None = None  # the VaR model's inputs (None: parametric)
        self._anomalous: dict[str, list[bool]] = {}  # specialist -> anomalous day, by row
        self._when: list[datetime] = []  # the features' dates as datetimes, by row
        # per-call lookups, computed once
        self._symbols = self.layout.symbols
        self._sym_index = self.layout.sym_index
        self._spec_names = self.layout.names
        self._spec_idx = universe.specialist_index()
        self._spec_of = self._spec_idx.tolist()

    # ------------------------------------------------------------------ the journal
    @property
    def decisions(self) -> list[Decision]:
        """One :class:`Decision` per cycle, oldest first."""
        return self.journal.decisions

    @property
    def allocation_changes(self) -> list[dict[str, Any]]:
        """The first allocation and every one that moved a share by more than the threshold."""
        return self.journal.allocation_changes

    @property
    def risk_interventions(self) -> list[dict[str, Any]]:
        """The cycles where a risk limit changed the book (binding layer, scale, VaR)."""
        return self.journal.risk_interventions

    @property
    def allocation_change_threshold(self) -> float:
        return self.journal.allocation_change_threshold

    def reset_account(self) -> None:
        """Restart the circuit breaker's memory (peak, last equity and VaR, streak, cool-down)
        for a new account; the journal keeps its history."""
        self.breaker = BreakerState.fresh(1)

    # ------------------------------------------------------------------ helpers of the plan
    def _tape(self, features: FeatureSet) -> FeatureTape:
        key = id(features)
        if key not in self._tapes:
            self._tapes = {key: FeatureTape.build(features, self.universe, "cpu")}
            self._var_tape = var_tape(features, self.risk.cfg)
            self._when = list(features.dates.to_pydatetime())
            self._anomalous = {
                name: BaseSpecialist.anomalous_days(features.market[name]).tolist()
                for name in self._spec_names
            }
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
        if not bool(torch.isfinite(returns).all()):
            raise DataError(f"account at row {row}: non-finite returns_history; no order is sent")
        if returns.numel() != RETURNS_LOOKBACK:
            raise DataError(
                f"portfolio.returns_history has {returns.numel()} returns; "
                f"expected {RETURNS_LOOKBACK}"
            )
        stats = portfolio.specialist_stats
        if stats.numel():  # a copy: the state owns its rows
            m1, m2, hit = stats.to(f64, copy=True).unsqueeze(1).unbind(0)
        else:
            m1, m2, hit = torch.zeros(3, 1, s, dtype=f64).unbind(0)
        # one tensor for the account's numbers (one list conversion instead of four)
        numbers = [*units, *entry, portfolio.equity, portfolio.peak_equity]
        if not all(map(math.isfinite, numbers)):  # a broken account feed is never traded on
            raise DataError(
                f"account at row {row}: non-finite units, entry price, equity or peak "
                f"({numbers}); no order is sent on it"
            )
        book = torch.tensor([numbers], dtype=f64)
        return KernelState(
            units=book[:, :n],
            equity=book[0, 2 * n : 2 * n + 1],
            entry_price=book[:, n : 2 * n],
            t=torch.tensor([row]),
            peak_equity=book[0, 2 * n + 1 :],
            returns=returns.to(f64, copy=True).reshape(1, RETURNS_LOOKBACK),
            spec_m1=m1,
            spec_m2=m2,
            spec_hit=hit,
        )

    def observation(self, market_data: Mapping[str, Any], portfolio: Portfolio) -> TensorDict:
        """Every observation the policy reads, ``batch_size=[1]``, exactly as the env writes it."""
        features, row = self._unpack(market_data)
        state = self.kernel_state(portfolio, row)
        obs = observe(state, self._tape(features))
        obs["info"] = {"date_index": state.t}  # the row, as the env's info carries it
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
        executed, _ = enforce_limits(weights, cov, self.limits, self._var_inputs(row))
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
        has_stats = portfolio.specialist_stats.numel() > 0
        with torch.inference_mode():
            state = self.kernel_state(portfolio, row, positions)
            metrics = specialist_metrics(state)  # meta state and reports: one computation
            obs = observe(state, tape, metrics)  # 1. meta observes
            obs["info"] = {"date_index": state.t}  # the row, as the env's info carries it
            act = self._decide(obs)  # 2. meta decides, 4. specialists act (+ sizing)
            appetite = None if act.appetite is None else act.appetite.item()
            cid = self.hub.new_correlation_id() if self.hub is not None else ""
            if self.messenger is not None and act.allocation is not None:
                assert appetite is not None
                self.messenger.broadcast(  # 3. allocations down
                    act.allocation, appetite, portfolio.returns_history, cid, when
                )
            # 6. the guard in float64, as the env's risk transform runs it, back in the policy dtype
            proposed = act.proposed
            cov = cast(torch.Tensor, obs["cov"])  # float32 entries are read into float64
            g = self.risk.guard(
                proposed.to(torch.float64),
                cov,
                cast(torch.Tensor, obs["weights"]),
                state.equity,
                cast(torch.Tensor, obs["tradable"]),
                cast(torch.Tensor, obs["correlation_regime"]) == SPIKE,
                self.breaker,
                self._var_inputs(row),
            )
            self.breaker = g.state
            executed = g.executed.to(proposed.dtype)
            diag = g.diagnostics
            if self.messenger is not None and has_stats:  # 5. reports up
                self.last_reports = self.messenger.report(
                    metrics,
                    state.spec_m1,
                    portfolio.equity,
                    positions,
                    executed,
                    cast(torch.Tensor, obs["vol"]),
                    act.allocation,
                    appetite,
                    act.specialist_entropy,
                    cid,
                    when,
                )
            alert, rejected, anomalies = self._events(g, row)
            if self.hub is not None:
                self._notify(alert, rejected, anomalies, g, row, cid)
            bound = int(diag.binding) != 0 or bool(g.breaker_on)
            orders = self._orders_for(
                executed, state, tape.prices.close[row : row + 1], when,
                "risk_scaled" if bound else "target",  # 8 / 7
            )  # fmt: skip
        # recorded outside inference mode: the journal's copies are ordinary tensors
        self.journal.record(
            row, act.allocation, appetite, act.direction, proposed, executed, diag, len(orders),
            alert, bool(g.breaker_on), rejected, anomalies,
        )  # fmt: skip
        return orders

    def _var_inputs(self, row: int) -> VarInputs | None:
        """The enforced VaR model's inputs at ``row`` (None: parametric, read from ``cov``)."""
        tape = self._var_tape
        if tape is None:
            return None
        if row < tape.window:
            raise DataError(
                f"market_data row t={row}: risk.var_method={tape.model.method!r} needs "
                f"risk.var_window={tape.window} returns before the decision"
            )
        return tape.inputs(torch.tensor([row]))

    def _events(self, g: Guarded, row: int) -> tuple[str, dict[str, str], tuple[str, ...]]:
        """The breaker's trigger, the refused orders and the anomalous specialists of a cycle."""
        alert = ALERTS[int(g.alert)]
        codes = g.reasons[0].tolist()
        rejected = {self._symbols[k]: PRE_TRADE_REASONS[c] for k, c in enumerate(codes) if c}
        anomalies = tuple(n for n in self._spec_names if self._anomalous[n][row])
        return alert, rejected, anomalies

    def _notify(
        self,
        alert: str,
        rejected: dict[str, str],
        anomalies: tuple[str, ...],
        g: Guarded,
        row: int,
        cid: str,
    ) -> None:
        """Hub messages of a cycle: breaker and anomaly alerts, refused orders."""
        hub = self.hub
        assert hub is not None
        if alert != "none":
            hub.broadcast_alert(
                "circuit_breaker",
                {"trigger": alert, "row": row, "response_scale": self.risk.rules.response_scale,
                 "cooldown_days": int(g.state.cooldown[0])},
                correlation_id=cid,
            )  # fmt: skip
        if rejected:
            hub.broadcast_alert("orders_refused", {"row": row, **rejected}, correlation_id=cid)
        if anomalies:
            hub.broadcast_alert(
                "anomaly", {"row": row, "specialists": anomalies}, correlation_id=cid
            )

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

    def _decide(self, obs: dict[str, Any]) -> CycleAction:
        """Steps 2 and 4 and sizing: the deterministic action and its proposed target weights.

        A :class:`HierarchicalPolicy` in eval mode (alone or ``with_sizing``) is run through
        :meth:`HierarchicalPolicy.act`; any other policy as a tensordict module under
        ``ExplorationType.DETERMINISTIC``, as the environment's collector runs it.
        """
        if self._direct is not None and not self._direct[0].training:
            actor, sizing = self._direct
            a = actor.act(obs["meta_state"], obs["market"], obs["instrument_obs"])
            proposed = self._size(a.position, a.allocation, a.appetite, obs["vol"], sizing)
            return CycleAction(
                a.allocation, a.appetite, a.direction, a.specialist_entropy, proposed
            )
        with set_exploration_type(ExplorationType.DETERMINISTIC):
            td = self.policy(TensorDict(obs, batch_size=[1]))
        allocation = td.get(("action", "allocation"), None)
        appetite = td.get(("action", "appetite"), None)
        proposed = td.get("target_weights", None)
        if proposed is None:
            proposed = self._size(position_of(td), allocation, appetite, td.get("vol"), self.sizing)
        return CycleAction(
            allocation,
            appetite,
            td.get(("action", "direction"), None),
            td.get(("entropy", "specialists"), None),
            proposed,
        )

    @staticmethod
    def _size(
        position: torch.Tensor,
        allocation: torch.Tensor | None,
        appetite: torch.Tensor | None,
        vol: torch.Tensor,
        sizing: SizingModule,
    ) -> torch.Tensor:
        """The env's sizing of the hierarchical action (what :class:`SizingModule` writes)."""
        if allocation is None or appetite is None:
            raise DataError(
                "the policy wrote neither target_weights nor an allocation and appetite"
            )
        return target_weights(
            position,
            allocation,
            appetite,
            vol,
            cast(torch.Tensor, sizing.specialist_index),
            sizing.target_vol,
            sizing.max_weight,
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
        close = self._tape(features).prices.close[row : row + 1]
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
        mask = send.tolist()[0]
        if not any(mask):
            return []
        d, c = delta.tolist()[0], close.tolist()[0]
        return [
            Order(
                symbol=self._symbols[k],
                side=Side.BUY if d[k] > 0 else Side.SELL,
                quantity=abs(d[k]),
                price=c[k],
                timestamp=when,
                reason=reason,
            )
            for k, sent in enumerate(mask)
            if sent
        ]
