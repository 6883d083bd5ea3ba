"""Capital allocation rules over the specialists that more than one strategy uses.

:func:`kelly_allocation` is the meta-controller's plan method
(:meth:`~mtquant.agents.hierarchical.meta_controller.MetaController.calculate_kelly_allocation`)
and the rule of the :class:`~mtquant.agents.baselines.KellySpecialists` baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtquant.errors import ConfigError, DataError


def kelly_allocation(
    specialist_sharpes: Sequence[float] | np.ndarray,
    specialist_vols: Sequence[float] | np.ndarray | None = None,
    max_fraction: float = 0.6,
) -> np.ndarray:
    """Kelly-proportional weights over specialists: never negative, each <= ``max_fraction``, sum 1.

    The Kelly fraction of a strategy is ``mu / sigma^2 = Sharpe / sigma``, so the raw weight is
    ``max(Sharpe_s, 0) / vol_s`` (``vol_s = 1`` when not given), normalised to sum 1. Weights above
    ``max_fraction`` are capped and the excess is handed to the uncapped specialists in proportion
    to their weights (equally when those are all zero), repeated until no weight exceeds the cap.
    All Sharpes <= 0 -> equal weights.
    """
    sharpe = np.asarray(specialist_sharpes, dtype=np.float64).reshape(-1)
    n = sharpe.size
    vols = np.ones(n) if specialist_vols is None else np.asarray(specialist_vols, dtype=np.float64)
    if n == 0 or not np.isfinite(sharpe).all():
        raise DataError(f"calculate_kelly_allocation: need finite Sharpe ratios, got {sharpe}")
    if vols.shape != (n,) or not (vols > 0).all():
        raise DataError(f"calculate_kelly_allocation: vols must be {n} positive values, got {vols}")
    if max_fraction * n < 1.0 - 1e-12:
        raise ConfigError(
            f"calculate_kelly_allocation: max_fraction={max_fraction} x {n} specialists < 1"
        )
    raw = np.maximum(sharpe, 0.0) / vols
    if raw.sum() <= 0.0:
        return np.full(n, 1.0 / n)
    w = raw / raw.sum()
    capped = np.zeros(n, dtype=bool)
    for _ in range(n):  # water-filling: at most n rounds
        over = (w > max_fraction + 1e-12) & ~capped
        if not over.any():
            break
        capped |= over
        excess = float((w[capped] - max_fraction).sum())
        w[capped] = max_fraction
        free = ~capped
        base = w[free].sum()
        w[free] += excess * (w[free] / base if base > 0 else np.full(free.sum(), 1.0 / free.sum()))
    return w
