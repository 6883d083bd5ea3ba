"""Batched market simulation: the execution kernel, the TorchRL env and its factories."""

from mtquant.agents.environments.multi_instrument_env import MultiInstrumentEnv, make_env
from mtquant.execution.kernel import (
    KernelParams,
    KernelState,
    MarketTape,
    StepBreakdown,
    step_kernel,
    target_units,
)

__all__ = [
    "KernelParams",
    "KernelState",
    "MarketTape",
    "MultiInstrumentEnv",
    "StepBreakdown",
    "make_env",
    "step_kernel",
    "target_units",
]
