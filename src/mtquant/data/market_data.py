"""``MarketData``: validated, aligned daily bars of N instruments as tensors ``[T, N, F]``."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume", "spread")


@dataclass(frozen=True)
class Provenance:
    """Where one instrument's series comes from.

    ``kind``: ``real`` (market data shipped in a package or brought by the user), ``proxy``
    (generated to stand in for a missing real series, named in every report) or ``synthetic``
    (the seeded generator). ``source`` names the package / file / model; ``note`` says how.
    """

    kind: str
    source: str
    note: str = ""
    first_date: str = ""
    last_date: str = ""


@dataclass
class MarketData:
    """Daily bars of N instruments on one business-day calendar.

    ``values[t, n, f]`` holds field ``FIELDS[f]`` (float64). Close-only series (ECB fixings, WTI
    spot, proxies) store ``open = high = low = close`` and have ``has_range[n] = False`` so that
    features and fills never invent a high-low range or an open. Volume / spread are 0 where
    ``has_volume`` / ``has_spread`` is False. ``mask[t, n]`` is True where the bar was observed and
    False where it was forward-filled (at most ``max_ffill_days`` in a row).
    """

    dates: pd.DatetimeIndex  # [T]
    symbols: list[str]  # [N]
    values: torch.Tensor  # [T, N, F] float64
    mask: torch.Tensor  # [T, N] bool, observed (not filled)
    has_range: torch.Tensor  # [N] bool, real open/high/low available
    has_volume: torch.Tensor  # [N] bool
    has_spread: torch.Tensor  # [N] bool
    provenance: dict[str, Provenance]
    macro: torch.Tensor | None = None  # [T, M] user-supplied macro series, aligned
    macro_names: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # human-readable reports of gaps > fill limit

    def field(self, name: str) -> torch.Tensor:
        """``[T, N]`` view of one field."""
        return self.values[..., FIELDS.index(name)]

    @property
    def close(self) -> torch.Tensor:
        return self.field("close")

    @property
    def open(self) -> torch.Tensor:
        return self.field("open")

    @property
    def n_days(self) -> int:
        return len(self.dates)

    def to_frame(self, field: str = "close") -> pd.DataFrame:
        """One field as a DataFrame (index: dates, columns: symbols)."""
        return pd.DataFrame(self.field(field).cpu().numpy(), index=self.dates, columns=self.symbols)

    def slice(self, start: int, stop: int) -> MarketData:
        """Rows ``start:stop`` (a date range), sharing storage."""
        return MarketData(
            dates=self.dates[start:stop],
            symbols=list(self.symbols),
            values=self.values[start:stop],
            mask=self.mask[start:stop],
            has_range=self.has_range,
            has_volume=self.has_volume,
            has_spread=self.has_spread,
            provenance=dict(self.provenance),
            macro=None if self.macro is None else self.macro[start:stop],
            macro_names=list(self.macro_names),
            gaps=list(self.gaps),
        )

    def select(self, symbols: list[str]) -> MarketData:
        """The given instruments, in the given order."""
        idx = [self.symbols.index(s) for s in symbols]
        return MarketData(
            dates=self.dates,
            symbols=list(symbols),
            values=self.values[:, idx],
            mask=self.mask[:, idx],
            has_range=self.has_range[idx],
            has_volume=self.has_volume[idx],
            has_spread=self.has_spread[idx],
            provenance={s: self.provenance[s] for s in symbols},
            macro=self.macro,
            macro_names=list(self.macro_names),
            gaps=list(self.gaps),
        )
