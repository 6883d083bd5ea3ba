"""Registers every group schema in Hydra's ConfigStore and converts composed configs to dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from mtquant.config.agents import AgentsConfig
from mtquant.config.data import DataConfig
from mtquant.config.env import EnvConfig
from mtquant.config.hardware import HardwareConfig
from mtquant.config.instruments import InstrumentsConfig
from mtquant.config.logger import LoggerConfig
from mtquant.config.risk import RiskConfig
from mtquant.config.training import TrainingConfig
from mtquant.config.validation import ConfigError

GROUP_SCHEMAS: dict[str, type] = {
    "instruments": InstrumentsConfig,
    "risk": RiskConfig,
    "data": DataConfig,
    "agents": AgentsConfig,
    "env": EnvConfig,
    "training": TrainingConfig,
    "hardware": HardwareConfig,
    "logger": LoggerConfig,
}


@dataclass
class RunConfig:
    """Primary config shared by train / evaluate / backtest / bench entry points."""

    instruments: InstrumentsConfig = field(default_factory=InstrumentsConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    agents: AgentsConfig = field(default_factory=AgentsConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    task: str = "train"  # train | evaluate | backtest | bench
    seed: int = 0
    checkpoint: str | None = None  # run directory of a training run (evaluate) or a ckpt to resume
    split: str = "test"  # evaluate: train | val | test
    output_dir: str | None = None  # filled from hydra.runtime.output_dir when None
    extras: dict[str, Any] = field(
        default_factory=dict
    )  # free-form, per entry point (bench sizes ...)


def register_configs() -> None:
    """Store ``<group>_schema`` for each group and ``run_schema`` for the primary configs."""
    cs = ConfigStore.instance()
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group=group, name=f"{group}_schema", node=schema)
    cs.store(name="run_schema", node=RunConfig)


def to_object(cfg: DictConfig) -> RunConfig:
    """Turn a composed config into dataclasses, running every range check.

    Raises :class:`ConfigError` with the key and the value at fault.
    """
    refuse_unknown_keys(cfg)
    try:
        obj = OmegaConf.to_object(cfg)
    except ConfigError:
        raise
    except Exception as exc:  # omegaconf validation errors carry the full key already
        raise ConfigError(f"config error: {exc}") from exc
    if not isinstance(obj, RunConfig):
        raise ConfigError(f"config root is {type(obj).__name__}, expected RunConfig")
    validate_tree(obj)
    return obj


def refuse_unknown_keys(cfg: DictConfig, path: str = "") -> None:
    """Refuse keys a dataclass schema does not declare (``+key=value`` overrides slip past Hydra)."""
    schema = OmegaConf.get_type(cfg)
    if schema is not None and is_dataclass(schema):
        known = {f.name for f in fields(schema)}
        for key in cfg:
            if key not in known:
                where = f"{path}{key!s}"
                raise ConfigError(
                    f"config {where}: unknown key; {path.rstrip('.') or 'the root'} accepts "
                    f"{sorted(known)}"
                )
    for key in cfg:
        child = cfg._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            refuse_unknown_keys(child, f"{path}{key!s}.")


def validate_tree(node: Any) -> None:
    """Call ``validate()`` on every dataclass in the tree (children first)."""
    if is_dataclass(node):
        for f in fields(node):
            validate_tree(getattr(node, f.name))
        check = getattr(node, "validate", None)
        if callable(check):
            check()
    elif isinstance(node, dict):
        for v in node.values():
            validate_tree(v)
    elif isinstance(node, list | tuple):
        for v in node:
            validate_tree(v)


def config_dir() -> str:
    """Absolute path of the repository's ``conf/`` folder (next to ``src/``)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "conf"
        if (candidate / "train.yaml").is_file():
            return str(candidate)
    raise ConfigError(f"cannot find conf/train.yaml above {here}")


def compose_config(config_name: str = "train", overrides: list[str] | None = None) -> DictConfig:
    """Compose a primary config outside a Hydra app (tests, notebooks, helper scripts)."""
    from hydra import compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(config_name, overrides=list(overrides or []))
