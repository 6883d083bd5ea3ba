"""The risk manager as a TorchRL transform on the action path.

``PortfolioRiskTransform(limits, rules)`` sits between the policy and any TorchRL env that reads
``"target_weights" [B, N]`` as its action and publishes ``"cov" [B, N, N]``, the held
``"weights" [B, N]``, ``"equity" [B, 1]``, ``"tradable" [B, N]`` and ``"correlation_regime"
[B]`` as observations (and ``("info", "date_index") [B]``, the decision row, when a
:class:`~mtquant.risk_management.var_models.VarTape` gives a VaR model other than the parametric
one its inputs). On ``env.step`` TorchRL calls :meth:`_inv_call` on a shallow copy of the
input tensordict: the proposed targets are replaced there by what
:func:`~mtquant.risk_management.guard.guard_book` lets through (limits, circuit breaker,
pre-trade gate), so the base env only executes guarded books while the caller's tensordict
keeps the policy's own sample (its log-prob stays that of the sampled action; the guard is part
of the environment's dynamics). The transform holds each account's breaker state and restarts
it with the account. What the guard did is written by :meth:`_step` into the next observation
under ``"risk"``:

``("risk", k)`` for k in ``proposed_var`` (VaR of the policy's book), ``executed_var`` (ex-ante
VaR of the book that executes, under ``risk.var_method``), ``executed_es`` and
``executed_var99`` (its Expected Shortfall and its VaR at 99%, the same model), ``scale`` (the
limits' gross scale), ``correlation_exposure`` (the correlation rule's measure; float ``[B]``),
``binding`` and ``binding_flags`` (int64 ``[B]``, codes in
:mod:`mtquant.risk_management.limits`), ``alert`` (int64 ``[B]``, the breaker's trigger,
:data:`~mtquant.risk_management.guard.ALERTS`), ``breaker_on`` (bool ``[B]``), ``rejected``
(int64 ``[B, N]``, pre-trade reason codes) and ``executed_weights`` ``[B, N]``. Reset writes
neutral values (zeros, ``scale = 1``) so every spec'd key is present at every step.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Bounded, Composite, Unbounded
from torchrl.envs import Transform

from mtquant.risk_management.correlation_tracker import SPIKE
from mtquant.risk_management.guard import (
    ALERTS,
    PRE_TRADE_REASONS,
    BreakerState,
    Guarded,
    GuardRules,
    guard_book,
)
from mtquant.risk_management.limits import BINDING_NAMES, RiskLimits
from mtquant.risk_management.var_models import VarTape

RISK_KEY = "risk"
ROW_KEY = ("info", "date_index")  # the decision row of each account (the env's info)
_FLOAT_KEYS = (
    "proposed_var",
    "executed_var",
    "executed_es",
    "executed_var99",
    "scale",
    "correlation_exposure",
)


class PortfolioRiskTransform(Transform):
    """Replace ``target_weights`` by the guarded book and report what the guard did."""

    def __init__(
        self,
        limits: RiskLimits,
        rules: GuardRules,
        weights_key: str = "target_weights",
        cov_key: str = "cov",
        var_tape: VarTape | None = None,
    ) -> None:
        super().__init__(
            in_keys=[], out_keys=[], in_keys_inv=[weights_key], out_keys_inv=[weights_key]
        )
        self.limits = limits
        self.rules = rules
        self.weights_key = weights_key
        self.cov_key = cov_key
        self.var_tape = var_tape  # the VaR model's inputs by row (None: parametric on cov)
        self._pending: TensorDictBase | None = None
        self.breaker: BreakerState | None = None  # per account, from the first reset

    # ------------------------------------------------------------------ action path
    def _inv_call(self, tensordict: TensorDictBase) -> TensorDictBase:
        w = tensordict.get(self.weights_key, None)
        cov = tensordict.get(self.cov_key, None)
        if w is None or cov is None:
            if self.missing_tolerance:
                return tensordict
            missing = self.weights_key if w is None else self.cov_key
            raise KeyError(f"PortfolioRiskTransform needs {missing!r} in the step tensordict")
        if self.breaker is None:
            raise RuntimeError("PortfolioRiskTransform: step before the first reset")
        var_inputs = None
        if self.var_tape is not None:
            rows = tensordict.get(ROW_KEY, None)
            if rows is None:
                raise KeyError(f"PortfolioRiskTransform: risk.var_method needs {ROW_KEY!r}")
            var_inputs = self.var_tape.inputs(rows.reshape(-1))
        # the guard runs in float64 so that the reported VaR holds the limit to 1e-9 (float32
        # rounding is ~1e-7); the base env receives the book in its action dtype
        guarded = guard_book(
            w.to(torch.float64),
            cov,
            tensordict.get("weights"),
            tensordict.get("equity").reshape(-1),
            tensordict.get("tradable"),
            tensordict.get("correlation_regime") == SPIKE,
            self.breaker,
            self.limits,
            self.rules,
            var_inputs=var_inputs,
        )
        self.breaker = guarded.state
        tensordict.set(self.weights_key, guarded.executed.to(w.dtype))
        self._pending = self._risk_td(guarded, w.shape[:-1])
        return tensordict

    @staticmethod
    def _risk_td(g: Guarded, batch: torch.Size) -> TensorDictBase:
        """The ``("risk", ...)`` entries ``[B]`` (floats in float64: the guard ran in it)."""
        diag = g.diagnostics
        return TensorDict(
            {
                "proposed_var": diag.proposed_var,
                "executed_var": g.executed_var,
                "executed_es": g.executed_es,
                "executed_var99": g.executed_var99,
                "scale": diag.scale,
                "correlation_exposure": diag.correlation_exposure_after,
                "binding": diag.binding,
                "binding_flags": diag.binding_flags,
                "alert": g.alert,
                "breaker_on": g.breaker_on,
                "rejected": g.reasons,
                "executed_weights": g.executed,
            },
            batch_size=batch,
            device=g.executed.device,
        )

    # ------------------------------------------------------------------ observations
    def _step(self, tensordict: TensorDictBase, next_tensordict: TensorDictBase) -> TensorDictBase:
        if self._pending is None:
            raise RuntimeError("PortfolioRiskTransform._step called before the action was checked")
        next_tensordict.set(RISK_KEY, self._pending)
        self._pending = None
        return next_tensordict

    def _reset(
        self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase
    ) -> TensorDictBase:
        cov = tensordict_reset.get(self.cov_key)
        batch, n = cov.shape[:-2], cov.shape[-1]
        fresh = BreakerState.fresh(int(batch.numel()), cov.device)
        mask = None if tensordict is None else tensordict.get("_reset", None)
        if self.breaker is None or mask is None or self.breaker.peak.shape != fresh.peak.shape:
            self.breaker = fresh  # every account restarts
        else:
            self.breaker = self.breaker.where(mask.reshape(-1), fresh)
        z = torch.zeros(batch, dtype=torch.float64, device=cov.device)
        zi = torch.zeros(batch, dtype=torch.int64, device=cov.device)
        risk = TensorDict(
            {
                "proposed_var": z,
                "executed_var": z.clone(),
                "executed_es": z.clone(),
                "executed_var99": z.clone(),
                "scale": torch.ones_like(z),
                "correlation_exposure": z.clone(),
                "binding": zi,
                "binding_flags": zi.clone(),
                "alert": zi.clone(),
                "breaker_on": torch.zeros(batch, dtype=torch.bool, device=cov.device),
                "rejected": torch.zeros((*batch, n), dtype=torch.int64, device=cov.device),
                "executed_weights": torch.zeros((*batch, n), dtype=z.dtype, device=cov.device),
            },
            batch_size=batch,
            device=cov.device,
        )
        tensordict_reset.set(RISK_KEY, risk)
        return tensordict_reset

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        cov_spec = observation_spec[self.cov_key]
        batch, n = observation_spec.shape, cov_spec.shape[-1]
        dtype, device = torch.float64, cov_spec.device
        n_layers = len(BINDING_NAMES) - 1
        specs = {k: Unbounded(shape=batch, dtype=dtype, device=device) for k in _FLOAT_KEYS}
        specs["scale"] = Bounded(0.0, 1.0, shape=batch, dtype=dtype, device=device)
        specs["binding"] = Bounded(0, n_layers, shape=batch, dtype=torch.int64, device=device)
        specs["binding_flags"] = Bounded(
            0, 2**n_layers - 1, shape=batch, dtype=torch.int64, device=device
        )
        specs["alert"] = Bounded(0, len(ALERTS) - 1, shape=batch, dtype=torch.int64, device=device)
        specs["breaker_on"] = Binary(shape=batch, dtype=torch.bool, device=device)
        specs["rejected"] = Bounded(
            0, len(PRE_TRADE_REASONS) - 1, shape=(*batch, n), dtype=torch.int64, device=device
        )
        specs["executed_weights"] = Unbounded(shape=(*batch, n), dtype=dtype, device=device)
        observation_spec[RISK_KEY] = Composite(specs, shape=batch, device=device)
        return observation_spec
