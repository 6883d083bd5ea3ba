"""Small helpers that raise :class:`ConfigError` naming the offending key and value."""

from __future__ import annotations

from collections.abc import Iterable

from mtquant.errors import ConfigError

__all__ = [
    "ConfigError",
    "in_open_unit",
    "in_unit",
    "non_negative",
    "one_of",
    "positive",
    "require",
]


def require(condition: bool, key: str, value: object, expected: str) -> None:
    """Raise ``ConfigError('<key>=<value>: expected <expected>')`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"config {key}={value!r}: expected {expected}")


def positive(key: str, value: float) -> None:
    require(value > 0, key, value, "> 0")


def non_negative(key: str, value: float) -> None:
    require(value >= 0, key, value, ">= 0")


def in_open_unit(key: str, value: float) -> None:
    require(0.0 < value < 1.0, key, value, "in the open interval (0, 1)")


def in_unit(key: str, value: float) -> None:
    require(0.0 <= value <= 1.0, key, value, "in [0, 1]")


def one_of(key: str, value: str, allowed: Iterable[str]) -> None:
    allowed = list(allowed)
    require(value in allowed, key, value, f"one of {allowed}")
