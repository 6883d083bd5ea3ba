"""The size of a Hydra sweep, recorded in each run's model card for the Deflated Sharpe Ratio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from mtquant.config.sweeps import configurations_tried, sweep_values, trials_record
from mtquant.errors import ConfigError
from mtquant.evaluation.evaluation_report import count_trials


def _multirun(tmp_path: Path, task: list[str], sweeper: dict) -> Path:
    OmegaConf.save({"hydra": {"overrides": {"task": task}, "sweeper": sweeper}},
                   tmp_path / "multirun.yaml")  # fmt: skip
    return tmp_path


def test_grid_sweep_counts_every_combination_of_the_command_line_and_sweeper_params(tmp_path):
    sweep = _multirun(tmp_path, ["seed=0,1,2", "training=smoke", "risk=default,conservative"],
                      {"params": {"training.ppo.clip_range": "0.1,0.2"}})  # fmt: skip
    assert sweep_values(sweep) == (3 * 2 * 2, 3)
    assert trials_record("MULTIRUN", sweep, 4) == {
        "n_trials": 12,
        "sweep": {"dir": str(sweep), "job": 4, "seeds": 3, "variants": 4},
    }


def test_optuna_sweep_counts_its_trials_and_a_single_run_counts_one(tmp_path):
    assert sweep_values(_multirun(tmp_path, ["training=smoke"], {"n_trials": 20})) == (20, 1)
    assert trials_record("RUN", None, None) == {"n_trials": 1, "sweep": None}


def test_a_sweep_without_its_multirun_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no multirun.yaml"):
        sweep_values(tmp_path)


def _card(path: Path, config_hash: str, seed: int, data: str = "d1", **extra) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    card = {"config_hash": config_hash, "training": {"seed": seed},
            "data": {"source": "synthetic", "range": data}, "n_trials": 1, **extra}  # fmt: skip
    (path / "model_card.json").write_text(json.dumps(card))
    return path


def test_optuna_sweep_records_swept_seeds_beside_its_trials(tmp_path):
    sweep = _multirun(tmp_path, ["seed=0,1"], {"n_trials": 20,
                      "params": {"training.ppo.clip_range": "interval(0.1, 0.3)"}})  # fmt: skip
    assert trials_record("MULTIRUN", sweep, 0)["n_trials"] == 20
    assert trials_record("MULTIRUN", sweep, 0)["sweep"]["seeds"] == 2


def test_configurations_count_the_seeds_and_variants_recorded_in_the_sweep_cards(tmp_path):
    """A sweep of 2 planned jobs whose directory records 3 seeds x 2 variants (the grid's
    fold/seed layout, a re-run with more seeds) counts 6 configurations, not 2."""
    sweep = tmp_path / "sweep"
    for v in ("a", "b"):
        for seed in (0, 1, 2):
            _card(sweep / f"fold_{v}" / f"seed_{seed}", f"{v}{seed}", seed,
                  sweep={"dir": str(sweep), "job": 0})  # fmt: skip
    _card(sweep / "fold_a" / "seed_0_copy", "a0", 0)  # the same configuration twice counts once
    card = {"n_trials": 2, "sweep": {"dir": str(sweep), "job": 0}}
    tried = configurations_tried(card)
    assert tried == {"planned": 2, "recorded": 6, "seeds": 3, "variants": 2, "n_trials": 6}
    assert count_trials(card, 5) == 5 + 6 - 1


def test_a_run_outside_a_sweep_counts_the_runs_beside_it_on_the_same_data(tmp_path):
    own = _card(tmp_path / "seed_0", "h0", 0)
    _card(tmp_path / "seed_1", "h1", 1)
    _card(tmp_path / "variant", "h2", 0)
    _card(tmp_path / "other_data", "h3", 0, data="d2")  # trained on other data: not a trial here
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_card.json").write_text("{not json")
    card = json.loads((own / "model_card.json").read_text())
    tried = configurations_tried(card, own)
    assert tried["recorded"] == 3 and tried["seeds"] == 2 and tried["variants"] == 2
    assert count_trials(card, 4, str(own)) == 4 + 3 - 1


def test_planned_sweep_is_the_floor_and_a_bare_card_counts_one():
    assert configurations_tried({})["n_trials"] == 1
    assert configurations_tried({"n_trials": 12})["n_trials"] == 12
    assert configurations_tried({"training": {"n_trials": "garbage"}})["n_trials"] == 1
