"""Timing helpers: warm-up, repeated runs, medians and percentiles with ``perf_counter``.

Every figure of the benchmark is a median over ``repeats`` timed runs that follow ``warmup``
untimed ones (first calls pay for lazy initialisation, allocator growth and caches). The
medians resist the outliers that a shared machine produces; percentiles use
``numpy.percentile(method="linear")``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Seconds per run of a timed block: the median and the spread over the repeats."""

    median_s: float
    min_s: float
    max_s: float
    repeats: int

    def rate(self, work: float) -> float:
        """``work`` units per second at the median time (e.g. transitions per second)."""
        return work / self.median_s


def time_block(fn: Callable[[], object], repeats: int, warmup: int) -> Timing:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Timing(float(np.median(samples)), min(samples), max(samples), repeats)


def per_call_us(fn: Callable[[], object], calls: int, repeats: int, warmup: int) -> float:
    """Median microseconds of one ``fn()`` call, timing ``calls`` back-to-back calls per repeat."""

    def block() -> None:
        for _ in range(calls):
            fn()

    return time_block(block, repeats, warmup).median_s / calls * 1e6


def latency_percentiles(
    samples_s: list[float], qs: tuple[float, ...] = (50, 99)
) -> dict[str, float]:
    """``{"p50": ms, "p99": ms}`` of individual call latencies given in seconds."""
    values = np.percentile(np.asarray(samples_s) * 1e3, qs, method="linear")
    return {f"p{q:g}": float(v) for q, v in zip(qs, values, strict=True)}
