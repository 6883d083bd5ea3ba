"""The size of a Hydra sweep, recorded in each run's model card for the Deflated Sharpe Ratio."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from mtquant.config.sweeps import sweep_size, trials_record
from mtquant.errors import ConfigError


def _multirun(tmp_path: Path, task: list[str], sweeper: dict) -> Path:
    OmegaConf.save({"hydra": {"overrides": {"task": task}, "sweeper": sweeper}},
                   tmp_path / "multirun.yaml")  # fmt: skip
    return tmp_path


def test_grid_sweep_counts_every_combination_of_the_command_line_and_sweeper_params(tmp_path):
    sweep = _multirun(tmp_path, ["seed=0,1,2", "training=smoke", "risk=default,conservative"],
                      {"params": {"training.ppo.clip_range": "0.1,0.2"}})  # fmt: skip
    assert sweep_size(sweep) == 3 * 2 * 2
    assert trials_record("MULTIRUN", sweep, 4) == {"n_trials": 12,
                                                  "sweep": {"dir": str(sweep), "job": 4}}  # fmt: skip


def test_optuna_sweep_counts_its_trials_and_a_single_run_counts_one(tmp_path):
    assert sweep_size(_multirun(tmp_path, ["training=smoke"], {"n_trials": 20})) == 20
    assert trials_record("RUN", None, None) == {"n_trials": 1, "sweep": None}


def test_a_sweep_without_its_multirun_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no multirun.yaml"):
        sweep_size(tmp_path)
