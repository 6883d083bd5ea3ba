"""Every ``conf/experiment/*.yaml`` runs end to end in a tiny mode: its own groups and keys, with
the schedule shrunk to a few hundred transitions (and the walk-forward to one fold).

The training experiments train every stage they list through :class:`Experiment` and evaluate on
the validation split; the walk-forward experiment runs one fold and writes its report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtquant.config import compose_config, to_object
from mtquant.config.store import config_dir
from mtquant.evaluation.walk_forward_report import write_backtest_report
from mtquant.experiment import Experiment
from mtquant.studies.walk_forward import run_walk_forward

EXPERIMENTS = sorted(p.stem for p in (Path(config_dir()) / "experiment").glob("*.yaml"))
PRIMARY = {"full_backtest": "backtest"}  # the others configure scripts/train.py
STAGES = ("phase1", "phase2", "phase3", "single_agent")
TINY = [
    "hardware.n_envs=8",
    "training.ppo.n_epochs=1",
    "training.ppo.minibatch_size=128",
    "training.progress_bar=false",
    "logger=none",
    *[
        f"training.{s}.{k}={v}"
        for s in STAGES
        for k, v in (("timesteps", 256), ("frames_per_batch", 128))
    ],
]
# the experiments' data shrunk too: learn_* generate 20,000 days and validate on 120 months
SHRINK = {
    "learn_signal": ["data.synthetic.n_days=1500", "data.split.val_months=12"],
    "learn_nosignal": ["data.synthetic.n_days=1500", "data.split.val_months=12"],
    "full_backtest": ["data.start=2015-01-02", "data.walk_forward.initial_train_years=3",
                      "extras.seeds=[0]", "extras.cost_multipliers=[1.0]"],
}  # fmt: skip


def test_the_list_covers_every_experiment_file() -> None:
    assert EXPERIMENTS == ["full_backtest", "learn_nosignal", "learn_signal", "synthetic_smoke"]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_in_a_tiny_mode(name: str, tmp_path: Path) -> None:
    primary = PRIMARY.get(name, "train")
    cfg = to_object(compose_config(primary, [f"experiment={name}", *TINY, *SHRINK.get(name, [])]))
    if primary == "backtest":
        data, folds = run_walk_forward(cfg, tmp_path)
        assert len(folds) == 1
        paths = write_backtest_report(cfg, data, folds, tmp_path, wall_seconds=1.0)
        metrics = json.loads(Path(paths["metrics"]).read_text())
        assert metrics["strategies"]["hierarchical"]["days"] > 100
        return
    exp = Experiment.from_config(cfg)
    result = exp.fit(tmp_path / "run")
    assert set(result["phases"]) == set(cfg.training.phases)
    evaluation = exp.evaluate("val")
    assert evaluation.results[0].name == "hierarchical" and len(evaluation.results[0].returns) > 20
