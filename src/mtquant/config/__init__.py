"""Structured Hydra configs: one dataclass schema per config group, registered in the ConfigStore.

The primary configs (``conf/train.yaml``, ``conf/evaluate.yaml``) start from ``run_schema`` so that
an unknown key or a wrong type stops composition with Hydra's message naming the key. Range checks
(negative spread, confidence outside (0, 1), ...) live in each dataclass's ``validate()`` and run in
:func:`to_object`, which raises :class:`ConfigError` naming the key and the value.
"""

from mtquant.config.store import RunConfig, compose_config, register_configs, to_object
from mtquant.errors import ConfigError

__all__ = ["ConfigError", "RunConfig", "compose_config", "register_configs", "to_object"]
