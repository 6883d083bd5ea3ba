"""The specialists' domain view over a period: what their regime and calendar methods said.

Each specialist's :meth:`~mtquant.agents.hierarchical.base_specialist.BaseSpecialist.daily_view`
(the forex correlation regime, carry signal and central-bank calendar; the commodities inflation
regime, safe-haven demand and OPEC calendar; the equity fear / greed index, earnings season and
sector rotation) runs on every evaluated day with data up to that day, and
:func:`domain_view_rows` summarises it for the evaluation report: the share of days of each
label, the mean of a number, the share of days a calendar flag was set.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from mtquant.agents.hierarchical.base_specialist import BaseSpecialist
from mtquant.data.market_data import MarketData


def domain_view_rows(
    specialists: Mapping[str, BaseSpecialist], data: MarketData, rows: tuple[int, int]
) -> list[dict[str, Any]]:
    """``[{"specialist", "view", "summary"}]`` over the data rows ``[start, stop)``."""
    out: list[dict[str, Any]] = []
    for name, sp in specialists.items():
        raw = sp.get_domain_features(data)  # [T, D] causal: row t uses data up to t
        seen: dict[str, list[Any]] = defaultdict(list)
        for t in range(*rows):
            view = sp.daily_view(raw[: t + 1], data.slice(0, t + 1), data.dates[t])
            for key, value in view.items():
                seen[key].append(value)
        out += [{"specialist": name, "view": k, "summary": _summary(v)} for k, v in seen.items()]
    return out


def _summary(values: list[Any]) -> str:
    """Label shares, the mean (and range) of a number, or the share of days a flag was set."""
    n = len(values)
    if all(isinstance(v, bool) for v in values):
        return f"{sum(values) / n:.0%} of {n} days"
    if all(isinstance(v, str) for v in values):
        shares = Counter(values).most_common()
        return ", ".join(f"{label} {count / n:.0%}" for label, count in shares)
    numbers = [float(v) for v in values]
    return f"mean {sum(numbers) / n:.3g} (min {min(numbers):.3g}, max {max(numbers):.3g})"
