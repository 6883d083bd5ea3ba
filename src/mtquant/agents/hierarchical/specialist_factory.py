"""Registry of specialist classes and the factory that builds them from the config.

A new specialist is a new class plus ``register_specialist(type, cls)`` and a YAML entry; the
trainer never branches on the type.

Example:
    >>> registry = SpecialistRegistry()
    >>> fx = registry.create_specialist("forex", {"instruments": ["EURUSD", "GBPUSD", "USDJPY"]})
    >>> fx.instrument_count
    3
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from mtquant.agents.hierarchical.base_specialist import BaseSpecialist
from mtquant.agents.hierarchical.commodities_specialist import CommoditiesSpecialist
from mtquant.agents.hierarchical.equity_specialist import EquitySpecialist
from mtquant.agents.hierarchical.forex_specialist import ForexSpecialist
from mtquant.config.agents import AgentsConfig, SpecialistConfig
from mtquant.config.instruments import InstrumentsConfig
from mtquant.errors import ConfigError

# SpecialistConfig fields that are constructor arguments (type and learning_rate are not)
_NETWORK_KEYS = (
    "market_features_dim",
    "observation_dim",
    "encoder_dim",
    "encoder_out_dim",
    "hidden_dim",
    "dropout",
    "shared_trunk",
)


class SpecialistRegistry:
    """Maps a type name ('forex', 'commodities', 'equity', ...) to a :class:`BaseSpecialist` class."""

    def __init__(self) -> None:
        self._classes: dict[str, type[BaseSpecialist]] = {}
        self.register_specialist("forex", ForexSpecialist)
        self.register_specialist("commodities", CommoditiesSpecialist)
        self.register_specialist("equity", EquitySpecialist)

    def register_specialist(
        self, specialist_type: str, specialist_class: type[BaseSpecialist]
    ) -> None:
        """Add (or replace) a type; the class must be a concrete :class:`BaseSpecialist`."""
        if not (inspect.isclass(specialist_class) and issubclass(specialist_class, BaseSpecialist)):
            raise ConfigError(
                f"specialist type {specialist_type!r}: {specialist_class!r} is not a BaseSpecialist"
            )
        if inspect.isabstract(specialist_class):
            raise ConfigError(
                f"specialist type {specialist_type!r}: {specialist_class.__name__} is abstract "
                f"(missing {sorted(specialist_class.__abstractmethods__)})"
            )
        self._classes[specialist_type] = specialist_class

    def get_all_specialists(self) -> dict[str, type[BaseSpecialist]]:
        """Registered type -> class (a copy)."""
        return dict(self._classes)

    def create_specialist(
        self, specialist_type: str, config: Mapping[str, Any] | SpecialistConfig | None = None
    ) -> BaseSpecialist:
        """Build a specialist of ``specialist_type`` from ``config``.

        ``config`` is a mapping with optional ``instruments`` and network sizes
        (``market_features_dim``, ``observation_dim``, ``encoder_dim``, ``encoder_out_dim``,
        ``hidden_dim``, ``dropout``) or a :class:`SpecialistConfig`; other keys are refused.
        """
        if specialist_type not in self._classes:
            raise ConfigError(
                f"unknown specialist type {specialist_type!r}; known: {sorted(self._classes)}"
            )
        if isinstance(config, SpecialistConfig):
            kwargs: dict[str, Any] = {
                k: getattr(config, k) for k in _NETWORK_KEYS if getattr(config, k) is not None
            }
        else:
            kwargs = dict(config or {})
            unknown = sorted(set(kwargs) - {"instruments", *_NETWORK_KEYS})
            if unknown:
                raise ConfigError(
                    f"specialist {specialist_type!r}: unknown config keys {unknown}; accepted: "
                    f"{['instruments', *_NETWORK_KEYS]}"
                )
        specialist = self._classes[specialist_type](**kwargs)
        self.validate_specialist(specialist)
        return specialist

    def validate_specialist(self, specialist: BaseSpecialist) -> bool:
        """True when ``specialist`` is well formed; otherwise a :class:`ConfigError` says why.

        Checks: a BaseSpecialist of a registered type, at least one instrument, one head per
        instrument, and the encoder's input width equal to the type's domain feature count.
        """
        if not isinstance(specialist, BaseSpecialist):
            raise ConfigError(f"{type(specialist).__name__} is not a BaseSpecialist")
        kind = specialist.specialist_type
        if kind not in self._classes:
            raise ConfigError(f"unknown specialist type {kind!r}; known: {sorted(self._classes)}")
        if specialist.instrument_count == 0:
            raise ConfigError(f"specialist {kind!r} has no instruments")
        if sorted(specialist.instrument_heads.keys()) != sorted(specialist.instruments):
            raise ConfigError(
                f"specialist {kind!r}: heads {sorted(specialist.instrument_heads.keys())} do not "
                f"match instruments {specialist.instruments}"
            )
        expected = type(specialist).MARKET_FEATURES_DIM
        if specialist.market_features_dim != expected:
            raise ConfigError(
                f"specialist {kind!r}: market_features_dim={specialist.market_features_dim}, "
                f"expected {expected} domain features"
            )
        return True


def build_specialists(
    agents_cfg: AgentsConfig,
    instruments_cfg: InstrumentsConfig,
    registry: SpecialistRegistry | None = None,
    input_dims: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, BaseSpecialist]:
    """One specialist per active group, in ``instruments.active`` order (the axis ``S``).

    The type and sizes come from ``agents.specialists[name]``, the instruments from
    ``instruments.specialists[name]``. ``input_dims[name]`` (``market_features_dim``,
    ``observation_dim``) are the widths of the feature set the policy will read; a width the
    config states must equal them, one it leaves ``None`` is taken from them (or, without a
    feature set, from the specialist class).
    """
    registry = registry or SpecialistRegistry()
    groups = {
        name: list(instruments_cfg.specialists.get(name, [])) for name in instruments_cfg.active
    }
    seen: dict[str, str] = {}
    out: dict[str, BaseSpecialist] = {}
    for name, symbols in groups.items():
        if name not in agents_cfg.specialists:
            raise ConfigError(
                f"config agents.specialists: no entry for active specialist {name!r}; "
                f"configured: {sorted(agents_cfg.specialists)}"
            )
        if not symbols:
            raise ConfigError(f"config instruments.specialists.{name}: no instruments")
        for s in symbols:
            if s not in instruments_cfg.symbols:
                raise ConfigError(
                    f"config instruments.specialists.{name}: unknown instrument {s!r}; "
                    f"known: {sorted(instruments_cfg.symbols)}"
                )
            if s in seen:
                raise ConfigError(
                    f"config instruments.specialists: instrument {s!r} is in both "
                    f"{seen[s]!r} and {name!r}"
                )
            seen[s] = name
        spec_cfg = agents_cfg.specialists[name]
        kwargs = {k: getattr(spec_cfg, k) for k in _NETWORK_KEYS}
        for key, width in (input_dims or {}).get(name, {}).items():
            if kwargs[key] is not None and kwargs[key] != width:
                raise ConfigError(
                    f"config agents.specialists.{name}.{key}={kwargs[key]}: the feature set "
                    f"gives the {name} specialist {width}; leave it null to derive it"
                )
            kwargs[key] = width
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            out[name] = registry.create_specialist(
                spec_cfg.type, {"instruments": symbols, **kwargs}
            )
        except ConfigError as exc:
            raise ConfigError(f"config agents.specialists.{name}: {exc}") from exc
    return out
