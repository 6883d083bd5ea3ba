"""Schema of the ``instruments`` group: instrument specs and the specialist grouping.

Units: prices in the instrument's quote currency; ``spread`` in price units (e.g. 0.00012 = 1.2
pips on EURUSD); commission and swaps in basis points of USD notional (commission per side, swaps
per day held overnight, negative = the account pays); ``margin_rate`` as a fraction of notional.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mtquant.config.validation import (
    ConfigError,
    in_open_unit,
    non_negative,
    one_of,
    require,
)

SECTORS = ("forex", "commodities", "equity")


@dataclass
class InstrumentSpec:
    sector: str = "forex"  # forex | commodities | equity
    description: str = ""  # shown beside the symbol in model cards
    spread: float = 0.0001  # typical bid-ask spread, price units
    commission_bps: float = 0.0  # per side, bps of USD notional
    swap_long_bps: float = 0.0  # per day held long overnight, bps of notional (negative = cost)
    swap_short_bps: float = 0.0  # per day held short overnight, bps of notional (negative = cost)
    triple_swap_weekday: int = 2  # weekday (Mon=0) whose rollover charges 3 days
    margin_rate: float = 0.0333  # margin as a fraction of notional (1 / leverage)
    usd_base: bool = False  # True when USD is the base currency (USDJPY): P&L in quote, converted

    def check(self, symbol: str) -> None:
        """Range checks, with the symbol in the key of any error."""
        key = f"instruments.symbols.{symbol}"
        one_of(f"{key}.sector", self.sector, SECTORS)
        non_negative(f"{key}.spread", self.spread)
        non_negative(f"{key}.commission_bps", self.commission_bps)
        in_open_unit(f"{key}.margin_rate", self.margin_rate)
        require(
            0 <= self.triple_swap_weekday <= 4,
            f"{key}.triple_swap_weekday",
            self.triple_swap_weekday,
            "a weekday 0..4",
        )


@dataclass
class InstrumentsConfig:
    # specialists in use, in order; with their symbols this fixes the instrument axis N
    active: list[str] = field(default_factory=list)
    # specialist name -> ordered list of symbols it trades
    specialists: dict[str, list[str]] = field(default_factory=dict)
    # catalogue of instrument terms (may hold more symbols than the active specialists use)
    symbols: dict[str, InstrumentSpec] = field(default_factory=dict)

    def validate(self) -> None:
        require(
            len(self.active) > 0, "instruments.active", list(self.active), "at least one specialist"
        )
        for name in self.active:
            if name not in self.specialists:
                raise ConfigError(
                    f"config instruments.active: unknown specialist {name!r}; "
                    f"known: {sorted(self.specialists)}"
                )
        seen: dict[str, str] = {}
        for name in self.active:
            syms = self.specialists[name]
            require(
                len(syms) > 0,
                f"instruments.specialists.{name}",
                list(syms),
                "at least one instrument",
            )
            for s in syms:
                if s not in self.symbols:
                    raise ConfigError(
                        f"config instruments.specialists.{name}: unknown instrument {s!r}; "
                        f"known: {sorted(self.symbols)}"
                    )
                if s in seen:
                    raise ConfigError(
                        f"config instruments.specialists: instrument {s!r} is in both "
                        f"{seen[s]!r} and {name!r}"
                    )
                seen[s] = name
        for sym, spec in self.symbols.items():
            spec.check(sym)

    def active_groups(self) -> dict[str, list[str]]:
        """Active specialist -> its symbols, in config order."""
        return {name: list(self.specialists[name]) for name in self.active}

    def active_symbols(self) -> list[str]:
        """The instrument axis N: active specialists' symbols, concatenated in order."""
        return [s for syms in self.active_groups().values() for s in syms]
