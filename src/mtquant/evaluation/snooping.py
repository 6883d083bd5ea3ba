"""Data snooping across the strategies of one report: Hansen's SPA and Romano-Wolf's StepM.

A report scores the system next to several baselines on the same days, and a reader who keeps
the best row has searched over all of them. Both tests come from ``arch.bootstrap`` and ask,
with the search accounted for, whether any strategy beats a benchmark:

- **SPA** (Hansen 2005, ``arch.bootstrap.SPA``): H0 "no strategy is better than the benchmark";
  three p-values that differ in how the bootstrap recentres strategies worse than the benchmark
  (``lower`` never recentres them, ``consistent`` only within Hansen's ``sqrt(2 log log n)``
  band, ``upper`` always: White's Reality Check). ``consistent`` is Hansen's recommended one.
- **StepM** (Romano & Wolf 2005): the set of strategies superior to the benchmark with the
  family-wise error rate held at ``size``. The steps are ``arch.bootstrap.StepM``'s (run the SPA,
  take the models whose mean differential is beyond the consistent critical value, drop them,
  repeat on the rest), run here on the row's SPA object (:func:`stepm_superior`) because arch
  8.0's ``StepM.compute`` stops on the size of the last step instead of on the models left, and
  fails (an SPA over no model) when the steps find every model superior.

Formulation. Every strategy in turn is the benchmark and all the others are the models, so each
row of the table answers "does anything in this report beat <benchmark>?", and a row whose
benchmark is a baseline says whether the system is in StepM's superior set. Losses are the
negative daily simple returns net of every cost, ``L_t = -r_t`` (lower is better), so arch's
loss differential ``d_k,t = L_benchmark,t - L_k,t = r_k,t - r_benchmark,t`` is strategy ``k``'s
daily excess return over the benchmark: "superior" means a higher mean daily net return. The
strategies are aligned on their common dates. A strategy whose returns equal the benchmark's on
every day carries no evidence and is left out of that row (``identical_to_benchmark``; arch's
p-value of an all-zero differential would be 0).

Statistic. arch (8.0) compares the largest mean loss differential with its bootstrap
distribution without dividing by its standard error (``studentize=True`` only sets the
consistent p-value's recentring band), so a volatile strategy's mean counts as much as a calm
one's; the figures compare mean returns, not Sharpe ratios. Hansen's statistic is
``max(0, max_k mean d_k)``: when no model's mean differential is positive it is 0 and every
p-value is 1. arch leaves out the ``max(0, .)`` (a row of strategies all worse than the
benchmark would get p near 0.5 from it), so that case is set to 1 here.

Bootstrap: stationary, ``reps`` draws, mean block length from
:func:`~mtquant.evaluation.sharpe_stats.stationary_block_length` of the row's differentials.
Row ``i`` draws from ``numpy.random.default_rng([seed, i])`` and StepM's steps reuse the row's
SPA draws (its first step is that SPA), so the block is a function of the results and the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any

import numpy as np
from arch.bootstrap import SPA
from numpy.typing import NDArray

from mtquant.errors import DataError
from mtquant.evaluation.results import StrategyResult, strategies_from
from mtquant.evaluation.sharpe_stats import stationary_block_length

REPS = 1000  # bootstrap draws of each SPA / StepM
SIZE = 0.05  # StepM's family-wise error rate
MIN_DAYS = 20  # fewer common days: no test
PVALUE_KINDS = ("lower", "consistent", "upper")
LOSS = (
    "negative daily simple return net of costs (L_t = -r_t); arch's loss differential "
    "L_benchmark - L_model is the model's daily excess return over the benchmark"
)


def _not_measured(reason: str) -> dict[str, Any]:
    return {"status": "not measured", "reason": reason}


def aligned_returns(
    results: Sequence[StrategyResult],
) -> tuple[NDArray[Any], dict[str, NDArray[np.float64]]]:
    """``(dates [T], {name: returns [T]})`` on the dates every strategy has."""
    common = reduce(np.intersect1d, [r.dates for r in results])
    return common, {r.name: r.returns[np.isin(r.dates, common)] for r in results}


def stepm_superior(spa: SPA, size: float) -> list[int]:
    """Romano-Wolf's stepdown on a computed ``spa``: indices of the models superior to its
    benchmark at family-wise error rate ``size`` (arch's StepM steps; module doc)."""
    k = spa.k
    left = np.ones(k, dtype=np.bool_)
    found: list[int] = []
    while left.any():
        spa.subset(left)
        spa.compute()
        step = [int(i) for i in spa.better_models(size)]  # "consistent" critical value
        if not step:
            break
        found += step
        left[step] = False
    spa.subset(np.ones(k, dtype=np.bool_))
    return sorted(found)


def _row(
    benchmark: str,
    returns: dict[str, NDArray[np.float64]],
    system: str,
    rng_seed: list[int],
    reps: int,
    size: float,
) -> dict[str, Any]:
    """SPA and StepM with ``benchmark`` against every other strategy (module doc)."""
    base = returns[benchmark]
    others = [n for n in returns if n != benchmark]
    identical = [n for n in others if np.array_equal(returns[n], base)]
    models = [n for n in others if n not in identical]
    row: dict[str, Any] = {
        "benchmark": benchmark,
        "models": models,
        "identical_to_benchmark": identical,
        "seed": rng_seed,
    }
    if not models:
        row.update(
            block_size=None,
            mean_excess_return={},
            spa_pvalues=dict.fromkeys(PVALUE_KINDS, 1.0),
            stepm_superior=[],
        )
    else:
        returns_k = np.column_stack([returns[n] for n in models])  # [T, K]
        excess = returns_k - base[:, None]  # d_k,t = L_benchmark - L_k
        block = stationary_block_length(excess)
        kw: dict[str, Any] = {"block_size": block, "reps": reps, "bootstrap": "stationary"}
        spa = SPA(-base, -returns_k, seed=np.random.default_rng(rng_seed), **kw)
        spa.compute()
        beats = bool(excess.mean(axis=0).max() > 0.0)  # Hansen's max(0, .): else p = 1
        pvalues = spa.pvalues if beats else dict.fromkeys(PVALUE_KINDS, 1.0)
        superior = [models[i] for i in stepm_superior(spa, size)]
        row.update(
            block_size=block,
            mean_excess_return={
                n: float(m) for n, m in zip(models, excess.mean(axis=0), strict=True)
            },
            spa_pvalues={k: float(pvalues[k]) for k in PVALUE_KINDS},
            stepm_superior=superior,
        )
    row["system_superior"] = None if benchmark == system else system in row["stepm_superior"]
    return row


def data_snooping(
    results: Sequence[StrategyResult],
    system: str,
    seed: int = 0,
    reps: int = REPS,
    size: float = SIZE,
) -> dict[str, Any]:
    """SPA p-values and StepM's superior set with each strategy as the benchmark (module doc).

    Returns a JSON-ready block: ``status`` ("measured" or "not measured" with a ``reason``), the
    method, loss and bootstrap settings, ``seed``, ``days`` / ``first`` / ``last`` of the common
    dates, one entry of ``tests`` per benchmark, and the summary ``system_superior_to`` (the
    baselines whose row puts the system in StepM's set) and ``superior_to_system`` (StepM's set
    of the row whose benchmark is the system).
    """
    if seed < 0 or reps < 1 or not 0.0 < size < 1.0:
        raise DataError(f"data snooping: need seed >= 0, reps >= 1, 0 < size < 1; got "
                        f"{seed}, {reps}, {size}")  # fmt: skip
    by_name = strategies_from(results)
    if system not in by_name:
        raise DataError(f"data snooping: system {system!r} not among {list(by_name)}")
    if len(by_name) < 2:
        return _not_measured("one strategy: nothing to compare it with")
    dates, returns = aligned_returns(results)
    if dates.size < MIN_DAYS:
        return _not_measured(f"{dates.size} common days (< {MIN_DAYS})")
    names = list(by_name)
    tests = [_row(b, returns, system, [seed, i], reps, size) for i, b in enumerate(names)]
    own = next(t for t in tests if t["benchmark"] == system)
    return {
        "status": "measured",
        "method": "Hansen (2005) SPA and Romano-Wolf (2005) StepM, arch.bootstrap "
        "(each strategy in turn the benchmark, the others the models)",
        "loss": LOSS,
        "system": system,
        "days": int(dates.size),
        "first": str(dates[0]),
        "last": str(dates[-1]),
        "bootstrap": {
            "kind": "stationary",
            "reps": reps,
            "block_rule": "Politis-White optimal block of the loss differentials and their "
            "squares, in [1, ceil(sqrt(days))] (sharpe_stats.stationary_block_length)",
            "studentize": True,
        },
        "size": size,
        "seed": seed,
        "tests": tests,
        "system_superior_to": [t["benchmark"] for t in tests if t["system_superior"]],
        "superior_to_system": list(own["stepm_superior"]),
    }
