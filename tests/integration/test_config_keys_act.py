"""Every config key acts: a field of a config schema that a train + evaluate + backtest run (and
the logger, data-file and macro-file paths) never reads is a key that is accepted and ignored.

Reads are recorded per config path (``risk.price_band``, ``training.phase1.learning_rate``) while
the entry points' work runs, not while the config is composed, validated, hashed or copied.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mtquant.config import RunConfig, compose_config, to_object
from mtquant.config.sweeps import trials_record

# read by Hydra itself, not by our code: the output folders interpolate ${task}
READ_BY_HYDRA = {"task"}
# modules whose reads do not count: composing, validating, hashing, copying a config
IGNORED_MODULES = ("dataclasses", "omegaconf", "mtquant.config", "copy", "hydra")
TINY = [
    "hardware.n_envs=8",
    "training.ppo.n_epochs=1",
    "training.ppo.minibatch_size=128",
    "training.progress_bar=false",
    *[
        f"training.{s}.{k}={v}"
        for s in ("phase1", "phase2", "phase3", "single_agent")
        for k, v in (("timesteps", 256), ("frames_per_batch", 128))
    ],
]


def _paths(node: Any, prefix: str = "") -> Iterator[tuple[int, str, Any]]:
    """``(id, path, dataclass instance)`` of every config dataclass in the tree."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        yield id(node), prefix.rstrip("."), node
        for f in dataclasses.fields(node):
            yield from _paths(object.__getattribute__(node, f.name), f"{prefix}{f.name}.")
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, f"{prefix}{k}.")
    elif isinstance(node, list):
        for k, v in enumerate(node):
            yield from _paths(v, f"{prefix}{k}.")


class ReadRecorder:
    """Records which fields of which config instances the code under test reads."""

    def __init__(self) -> None:
        self.owners: dict[int, str] = {}
        self.reads: set[str] = set()
        self.fields: set[str] = set()
        self._classes: dict[type, Any] = {}

    def watch(self, cfg: RunConfig) -> RunConfig:
        for key, path, obj in _paths(cfg):
            self.owners[key] = path
            cls = type(obj)
            self.fields |= {f"{path}.{f.name}".lstrip(".") for f in dataclasses.fields(obj)}
            if cls not in self._classes:
                self._classes[cls] = cls.__getattribute__
                names = {f.name for f in dataclasses.fields(cls)}
                cls.__getattribute__ = self._getter(names)  # type: ignore[method-assign]
        return cfg

    def _getter(self, names: set[str]) -> Any:
        recorder = self

        def getattribute(obj: Any, name: str) -> Any:
            if name in names:
                owner = recorder.owners.get(id(obj))
                caller = sys._getframe(1).f_globals.get("__name__", "")
                if owner is not None and not caller.startswith(IGNORED_MODULES):
                    recorder.reads.add(f"{owner}.{name}".lstrip("."))
            return object.__getattribute__(obj, name)

        return getattribute

    def restore(self) -> None:
        for cls, original in self._classes.items():
            cls.__getattribute__ = original  # type: ignore[method-assign]


@contextmanager
def recording() -> Iterator[ReadRecorder]:
    recorder = ReadRecorder()
    try:
        yield recorder
    finally:
        recorder.restore()


def _generic(path: str) -> str:
    """``agents.specialists.forex.hidden_dim`` -> ``agents.specialists.*.hidden_dim`` (and
    ``instruments.symbols.EURUSD.spread``, ``training.phase3.curriculum.0.name`` alike)."""
    parts = path.split(".")
    if (
        len(parts) > 2
        and parts[0] in ("agents", "instruments")
        and parts[1] in ("specialists", "symbols")
    ):
        parts[2] = "*"
    return ".".join("*" if p.isdigit() else p for p in parts)


@pytest.mark.slow
def test_every_config_field_is_read_by_a_run(tmp_path: Path) -> None:
    from mtquant.agents.training.trainer_factory import make_logger
    from mtquant.artifacts import RunDir
    from mtquant.data import load_market_data
    from mtquant.evaluation.walk_forward_report import write_backtest_report
    from mtquant.experiment import Experiment
    from mtquant.studies.walk_forward import run_walk_forward

    run_dir = tmp_path / "run"
    macro = tmp_path / "macro.csv"
    macro.write_text("date,vix_proxy\n2007-12-31,20\n")
    with recording() as rec:
        # scripts/train.py
        cfg = rec.watch(
            to_object(
                compose_config(
                    "train", ["experiment=synthetic_smoke", *TINY, f"data.macro_path={macro}"]
                )
            )  # fmt: skip
        )
        exp = Experiment.from_config(cfg)
        exp.trials = trials_record("RUN", None, None)
        exp.fit(cfg.output_dir or run_dir)
        # scripts/evaluate.py
        cfg = rec.watch(
            to_object(
                compose_config(
                    "evaluate",
                    ["data=synthetic", "split=val", "training=smoke", f"checkpoint={run_dir}"],
                )
            )  # fmt: skip
        )
        exp = Experiment.from_config(cfg)
        exp.load(cfg.checkpoint)
        exp.write_report(exp.evaluate(cfg.split), cfg.output_dir or tmp_path / "eval")
        # scripts/backtest.py
        cfg = rec.watch(
            to_object(
                compose_config(
                    "backtest",
                    [
                        *TINY,
                        "data.start=2015-01-02",
                        "data.walk_forward.initial_train_years=3",
                        "extras.seeds=[0]",
                        "extras.cost_multipliers=[1.0]",
                    ],
                )
            )  # fmt: skip
        )
        data, folds = run_walk_forward(cfg, cfg.output_dir or tmp_path / "bt")
        write_backtest_report(cfg, data, folds, tmp_path / "bt", 1.0)
        # the other implementations of the registries: a W&B logger, user files
        cfg = rec.watch(to_object(compose_config("train", ["logger=wandb"])))
        make_logger(cfg, RunDir(tmp_path / "wb"), "phase1")
        (tmp_path / "csv").mkdir()
        for k, symbol in enumerate(("EURUSD", "GBPUSD", "USDJPY")):
            rows = [f"2020-01-{d:02d},{100 + k},{102 + k},{98 + k},{101 + k}" for d in (2, 3, 6)]
            (tmp_path / "csv" / f"{symbol}.csv").write_text(
                "\n".join(["date,open,high,low,close", *rows]) + "\n"
            )
        cfg = rec.watch(to_object(compose_config("train", [
            "data=csv", f"data.path={tmp_path / 'csv'}", "instruments=forex"])))  # fmt: skip
        load_market_data(cfg)
    unread = {_generic(f) for f in rec.fields} - {_generic(r) for r in rec.reads}
    assert unread - READ_BY_HYDRA == set()
