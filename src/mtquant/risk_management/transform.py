"""The risk manager as a TorchRL transform on the action path.

``PortfolioRiskTransform(limits)`` sits between the policy and any TorchRL env that reads
``"target_weights" [*B, N]`` as its action and publishes ``"cov" [*B, N, N]`` as an
observation. On ``env.step`` TorchRL calls :meth:`_inv_call` on a shallow copy of the input
tensordict: the proposed targets are replaced by :func:`enforce_limits`' compliant ones there,
so the base env only ever executes compliant books while the caller's tensordict keeps the
policy's own sample (its log-prob stays that of the sampled action; the scaling is part of the
environment's dynamics). The diagnostics of that call are written by :meth:`_step` into the
next observation under ``"risk"``:

``("risk", k)`` for k in ``proposed_var, executed_var, scale, correlation_exposure`` (float
``[*B]``), ``binding`` and ``binding_flags`` (int64 ``[*B]``, codes in
:mod:`mtquant.risk_management.limits`) and ``executed_weights`` ``[*B, N]``. Reset writes
neutral values (zeros, ``scale = 1``) so every spec'd key is present at every step.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Composite, Unbounded
from torchrl.envs import Transform

from mtquant.risk_management.limits import (
    BINDING_NAMES,
    RiskDiagnostics,
    RiskLimits,
    enforce_limits,
)

RISK_KEY = "risk"
_FLOAT_KEYS = ("proposed_var", "executed_var", "scale", "correlation_exposure")


class PortfolioRiskTransform(Transform):
    """Replace ``target_weights`` by compliant weights and report what the limits did."""

    def __init__(
        self, limits: RiskLimits, weights_key: str = "target_weights", cov_key: str = "cov"
    ) -> None:
        super().__init__(
            in_keys=[], out_keys=[], in_keys_inv=[weights_key], out_keys_inv=[weights_key]
        )
        self.limits = limits
        self.weights_key = weights_key
        self.cov_key = cov_key
        self._pending: TensorDictBase | None = None

    # ------------------------------------------------------------------ action path
    def _inv_call(self, tensordict: TensorDictBase) -> TensorDictBase:
        w = tensordict.get(self.weights_key, None)
        cov = tensordict.get(self.cov_key, None)
        if w is None or cov is None:
            if self.missing_tolerance:
                return tensordict
            missing = self.weights_key if w is None else self.cov_key
            raise KeyError(f"PortfolioRiskTransform needs {missing!r} in the step tensordict")
        n = w.shape[-1]
        batch = w.shape[:-1]
        # limits are enforced in float64 so that the reported VaR holds the limit to 1e-9 (float32
        # rounding is ~1e-7); enforce_limits converts the covariance entries it reads to the
        # weights' dtype; the base env receives the book in its action dtype
        executed, diag = enforce_limits(
            w.reshape(-1, n).to(torch.float64), cov.reshape(-1, n, n), self.limits
        )
        executed = executed.reshape(w.shape)
        tensordict.set(self.weights_key, executed.to(w.dtype))
        self._pending = self._risk_td(diag, executed, batch)
        return tensordict

    @staticmethod
    def _risk_td(
        diag: RiskDiagnostics, executed: torch.Tensor, batch: torch.Size
    ) -> TensorDictBase:
        """The ``("risk", ...)`` entries ``[*B]`` (all float64: ``enforce_limits`` ran in it)."""
        flat = len(batch) == 1  # the usual [B]: no reshapes

        def r(x: torch.Tensor) -> torch.Tensor:
            return x if flat else x.reshape(batch)

        return TensorDict(
            {
                "proposed_var": r(diag.proposed_var),
                "executed_var": r(diag.executed_var),
                "scale": r(diag.scale),
                "correlation_exposure": r(diag.correlation_exposure_after),
                "binding": r(diag.binding),
                "binding_flags": r(diag.binding_flags),
                "executed_weights": executed,
            },
            batch_size=batch,
            device=executed.device,
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
        z = torch.zeros(batch, dtype=torch.float64, device=cov.device)
        zi = torch.zeros(batch, dtype=torch.int64, device=cov.device)
        risk = TensorDict(
            {
                "proposed_var": z,
                "executed_var": z.clone(),
                "scale": torch.ones_like(z),
                "correlation_exposure": z.clone(),
                "binding": zi,
                "binding_flags": zi.clone(),
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
        specs["executed_weights"] = Unbounded(shape=(*batch, n), dtype=dtype, device=device)
        observation_spec[RISK_KEY] = Composite(specs, shape=batch, device=device)
        return observation_spec
