"""``Registry``: a named implementation per config value (data sources, loggers, baselines).

Choosing an implementation from a config string is a dictionary lookup, not an ``if`` chain: a
new data source, logger or baseline is one ``register`` call beside its code. The config schema
states the allowed names (so a typo stops at composition); :meth:`Registry.matching` checks that
the implementations cover exactly those names when the registry is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from mtquant.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """``name -> implementation`` for the config key ``key`` (e.g. ``"data.source"``)."""

    def __init__(self, key: str, entries: Mapping[str, T] | None = None) -> None:
        self.key = key
        self._entries: dict[str, T] = dict(entries or {})

    @classmethod
    def matching(cls, key: str, names: Iterable[str], entries: Mapping[str, T]) -> Registry[T]:
        """A registry whose names are exactly ``names`` (the config schema's vocabulary)."""
        wanted, have = list(names), list(entries)
        if sorted(wanted) != sorted(have):
            raise ConfigError(
                f"registry {key}: implementations {sorted(have)} do not match the config's "
                f"names {sorted(wanted)}"
            )
        return cls(key, {n: entries[n] for n in wanted})

    def register(self, name: str, entry: T) -> None:
        """Add or replace the implementation called ``name``."""
        self._entries[name] = entry

    def get(self, name: str) -> T:
        """The implementation called ``name``; a :class:`ConfigError` naming the key otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"config {self.key}={name!r}: unknown; known: {list(self._entries)}"
            ) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
