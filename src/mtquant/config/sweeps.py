"""How many configurations were tried beside a run, for the Deflated Sharpe Ratio of its report.

Two sources, and the count is the larger:

- **the plan** — a multirun writes ``multirun.yaml`` into its sweep directory before the jobs
  start; it holds the command line's sweep overrides (``seed=0,1,2``) and the sweeper's own
  settings (the basic sweeper's ``params``, the Optuna sweeper's ``n_trials``).
  :func:`trials_record` counts its jobs when a job starts and the model card records them
  (``n_trials``, and under ``sweep`` the ``seeds`` swept and the ``variants``: the other
  combinations, jobs / seeds for a grid);
- **the records** — every run writes a ``model_card.json`` with its seed and config hash.
  :func:`configurations_tried` counts the distinct configurations (config hashes: seeds x
  variants as they were actually run) among the cards of the run's sweep directory (any depth,
  so the walk-forward grid's ``fold_<k>/seed_<s>/`` jobs count) or, for a run outside a sweep, of
  the run directories beside it that were trained on the same data and splits (the seeds of a
  walk-forward fold, hand-run variants). A sweep extended or re-run into the same directory, or
  runs tried one by one on the same data, are counted as they were recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from mtquant.errors import ConfigError

SWEEP_FILE = "multirun.yaml"
MODEL_CARD = "model_card.json"  # mtquant.artifacts.MODEL_CARD (config sits below artifacts)
SEED_KEY = "seed"


def sweep_values(sweep_dir: str | Path) -> tuple[int, int]:
    """``(jobs, seeds)`` of the multirun whose sweep directory is ``sweep_dir``.

    Jobs: the Optuna sweeper's ``n_trials``, else the product of the numbers of values of every
    sweep override (command line and the basic sweeper's ``params``); seeds: the values of the
    ``seed`` override (1 when not swept). Raises :class:`ConfigError` when the sweep's
    ``multirun.yaml`` is missing or names a grid it cannot count (an interval).
    """
    path = Path(sweep_dir) / SWEEP_FILE
    if not path.is_file():
        raise ConfigError(f"sweep {sweep_dir}: no {SWEEP_FILE} to count the sweep's jobs from")
    cfg: Any = OmegaConf.load(path)
    sweeper = cfg.hydra.sweeper
    params = sweeper.get("params") or {}
    overrides = [*cfg.hydra.overrides.task, *(f"{k}={v}" for k, v in params.items())]
    optuna = sweeper.get("n_trials") is not None  # its trials sample every swept key, seed too
    count, seeds = 1, 1
    for override in OverridesParser.create().parse_overrides(overrides):
        if not override.is_sweep_override():
            continue
        try:
            values = len(list(override.sweep_iterator()))
        except Exception as exc:  # interval sweeps have no finite list of values
            if optuna:
                continue
            raise ConfigError(
                f"sweep {path}: cannot count the values of {override.input_line!r} ({exc})"
            ) from exc
        count *= values
        if override.get_key_element().lstrip("+~") == SEED_KEY:
            seeds = values
    return (int(sweeper.n_trials) if optuna else count), seeds


def trials_record(mode: str, sweep_dir: str | Path | None, job: int | None) -> dict[str, Any]:
    """What a run's model card records about the configurations tried beside it: ``n_trials``
    (the sweep's jobs) and ``sweep`` (its directory, this job, ``seeds`` swept and ``variants``,
    the other combinations: ``max(1, jobs // seeds)``)."""
    if mode != "MULTIRUN" or sweep_dir is None:
        return {"n_trials": 1, "sweep": None}
    jobs, seeds = sweep_values(sweep_dir)
    sweep = {"dir": str(sweep_dir), "job": job, "seeds": seeds, "variants": max(1, jobs // seeds)}
    return {"n_trials": jobs, "sweep": sweep}


def _planned(card: Mapping[str, Any]) -> int:
    """The card's ``n_trials`` (or ``training.n_trials``); 1 when absent or not a number."""
    recorded = card.get("n_trials", card.get("training", {}).get("n_trials", 1))
    try:
        return max(1, int(recorded))
    except (TypeError, ValueError):
        return 1


def _read_cards(paths: Iterable[Path]) -> list[dict[str, Any]]:
    cards = []
    for p in sorted(paths):
        try:
            card = json.loads(p.read_text())
        except (OSError, ValueError):
            continue  # a card being written or damaged: not a record of a finished stage
        if isinstance(card, dict):
            cards.append(card)
    return cards


def _neighbour_cards(card: Mapping[str, Any], run_dir: str | Path | None) -> list[dict[str, Any]]:
    """The run cards recorded beside ``card`` (module doc); the run's own card among them."""
    sweep = card.get("sweep")
    if isinstance(sweep, Mapping) and sweep.get("dir"):
        return _read_cards(Path(str(sweep["dir"])).glob(f"**/{MODEL_CARD}"))
    if run_dir is None or not str(run_dir):
        return []
    data = card.get("data")
    siblings = _read_cards(Path(run_dir).resolve().parent.glob(f"*/{MODEL_CARD}"))
    return [c for c in siblings if data and c.get("data") == data]


def configurations_tried(
    card: Mapping[str, Any], run_dir: str | Path | None = None
) -> dict[str, int]:
    """Configurations tried for the run whose model card is ``card`` (in ``run_dir``).

    ``planned``: the sweep's jobs the card records (``n_trials``); ``recorded``: distinct config
    hashes among the cards beside it (module doc), ``seeds`` the distinct seeds among them and
    ``variants`` the most configurations recorded with one seed; ``n_trials``: the larger of
    ``planned`` and ``recorded`` (at least 1), what the Deflated Sharpe Ratio counts.
    """
    planned = _planned(card)
    cards = _neighbour_cards(card, run_dir)
    configs = {str(c.get("config_hash")) for c in cards if c.get("config_hash")}
    seeds: dict[str, set[str]] = {}
    for c in cards:
        if c.get("config_hash"):
            seed = str(c.get("training", {}).get("seed"))
            seeds.setdefault(seed, set()).add(str(c["config_hash"]))
    return {
        "planned": planned,
        "recorded": len(configs),
        "seeds": len(seeds),
        "variants": max((len(v) for v in seeds.values()), default=0),
        "n_trials": max(planned, len(configs), 1),
    }
