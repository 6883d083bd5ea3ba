"""Instrument universe: the active instruments, their terms as tensors, and the P&L convention.

The instrument axis ``N`` is the active specialists' symbols concatenated in config order
(all8: EURUSD, GBPUSD, USDJPY, XAUUSD, WTIUSD, SPX500, NAS100, US30). Every ``[.., N]`` tensor in
MTQuant uses this order.

P&L convention: a position is held in units of the base asset. Its USD notional is
``units * price`` when USD is the quote currency and ``units`` when USD is the base (USDJPY).
The USD return of a long position from price ``p0`` to ``p1`` is ``p1 / p0 - 1`` for USD-quoted
instruments and ``1 - p0 / p1`` for USD-based ones (the JPY P&L converted at ``p1``); both are
exact, see :func:`position_return`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mtquant.config.instruments import InstrumentsConfig, InstrumentSpec


@dataclass(frozen=True)
class Instrument:
    """One tradable instrument with its specialist and trading terms (units in conf/instruments)."""

    symbol: str
    specialist: str
    spec: InstrumentSpec

    @property
    def sector(self) -> str:
        return self.spec.sector


@dataclass(frozen=True)
class InstrumentUniverse:
    """The active instruments in axis order, with index tensors for specialists and sectors."""

    instruments: tuple[Instrument, ...]
    specialists: tuple[str, ...]  # specialist names in order, axis S

    @classmethod
    def from_config(cls, cfg: InstrumentsConfig) -> InstrumentUniverse:
        groups = cfg.active_groups()
        instruments = tuple(
            Instrument(symbol=s, specialist=name, spec=cfg.symbols[s])
            for name, syms in groups.items()
            for s in syms
        )
        return cls(instruments=instruments, specialists=tuple(groups))

    @property
    def symbols(self) -> list[str]:
        return [i.symbol for i in self.instruments]

    @property
    def n(self) -> int:
        return len(self.instruments)

    @property
    def sectors(self) -> list[str]:
        """Distinct sectors in order of first appearance."""
        return list(dict.fromkeys(i.sector for i in self.instruments))

    def index_of(self, symbol: str) -> int:
        for k, inst in enumerate(self.instruments):
            if inst.symbol == symbol:
                return k
        raise KeyError(f"unknown instrument {symbol!r}; known: {self.symbols}")

    def specialist_index(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """``[N]`` long: position of each instrument's specialist in :attr:`specialists`."""
        return torch.tensor(
            [self.specialists.index(i.specialist) for i in self.instruments], device=device
        )

    def sector_index(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """``[N]`` long: position of each instrument's sector in :attr:`sectors`."""
        sectors = self.sectors
        return torch.tensor([sectors.index(i.sector) for i in self.instruments], device=device)

    def terms(
        self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64
    ) -> dict[str, torch.Tensor]:
        """Trading terms as ``[N]`` tensors: spread, commission/swap as fractions, margin, flags."""

        def t(values: list[float]) -> torch.Tensor:
            return torch.tensor(values, device=device, dtype=dtype)

        specs = [i.spec for i in self.instruments]
        return {
            "spread": t([s.spread for s in specs]),
            "commission": t([s.commission_bps * 1e-4 for s in specs]),
            "swap_long": t([s.swap_long_bps * 1e-4 for s in specs]),
            "swap_short": t([s.swap_short_bps * 1e-4 for s in specs]),
            "margin_rate": t([s.margin_rate for s in specs]),
            "usd_base": torch.tensor([s.usd_base for s in specs], device=device),
            "triple_swap_weekday": torch.tensor(
                [s.triple_swap_weekday for s in specs], device=device
            ),
        }


def position_return(p0: torch.Tensor, p1: torch.Tensor, usd_base: torch.Tensor) -> torch.Tensor:
    """USD return of a long position of 1 USD notional from price ``p0`` to ``p1``.

    ``p1/p0 - 1`` for USD-quoted instruments, ``1 - p0/p1`` when USD is the base currency.
    Shapes broadcast (``[..., N]`` prices with an ``[N]`` bool ``usd_base``).
    """
    return torch.where(usd_base, 1.0 - p0 / p1, p1 / p0 - 1.0)


def usd_per_unit(price: torch.Tensor, usd_base: torch.Tensor) -> torch.Tensor:
    """USD notional of one unit of base: the price for USD-quoted instruments, 1 for USD-based."""
    return torch.where(usd_base, torch.ones_like(price), price)
