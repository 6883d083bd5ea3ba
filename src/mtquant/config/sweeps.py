"""How many configurations a Hydra sweep tries: recorded in each run's model card (``n_trials``)
so that the Deflated Sharpe Ratio of a report counts every configuration, not only the one kept.

A multirun writes ``multirun.yaml`` into its sweep directory before the jobs start; it holds the
command line's sweep overrides (``seed=0,1,2``) and the sweeper's own settings (the basic
sweeper's ``params``, the Optuna sweeper's ``n_trials``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from mtquant.errors import ConfigError

SWEEP_FILE = "multirun.yaml"


def sweep_size(sweep_dir: str | Path) -> int:
    """Jobs of the multirun whose sweep directory is ``sweep_dir``.

    The Optuna sweeper's ``n_trials``, else the product of the numbers of values of every sweep
    override (command line and the basic sweeper's ``params``). Raises :class:`ConfigError` when
    the sweep's ``multirun.yaml`` is missing or names a sweep it cannot count.
    """
    path = Path(sweep_dir) / SWEEP_FILE
    if not path.is_file():
        raise ConfigError(f"sweep {sweep_dir}: no {SWEEP_FILE} to count the sweep's jobs from")
    cfg: Any = OmegaConf.load(path)
    sweeper = cfg.hydra.sweeper
    if sweeper.get("n_trials") is not None:
        return int(sweeper.n_trials)
    params = sweeper.get("params") or {}
    overrides = [*cfg.hydra.overrides.task, *(f"{k}={v}" for k, v in params.items())]
    count = 1
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_sweep_override():
            try:
                count *= len(list(override.sweep_iterator()))
            except Exception as exc:  # interval sweeps have no finite list of values
                raise ConfigError(
                    f"sweep {path}: cannot count the values of {override.input_line!r} ({exc})"
                ) from exc
    return count


def trials_record(mode: str, sweep_dir: str | Path | None, job: int | None) -> dict[str, Any]:
    """What a run's model card records about the configurations tried beside it."""
    if mode != "MULTIRUN" or sweep_dir is None:
        return {"n_trials": 1, "sweep": None}
    return {"n_trials": sweep_size(sweep_dir), "sweep": {"dir": str(sweep_dir), "job": job}}
