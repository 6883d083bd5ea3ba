"""The walk-forward grid's pieces: folds it covers, its sweep, job identity and files, and the
report of a grid with a job that did not finish (no training: results are built in code)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from mtquant.bench.grid_bench import grid_commands
from mtquant.bench.settings import bench_settings
from mtquant.config import ConfigError, RunConfig, compose_config, register_configs, to_object
from mtquant.config.data import WalkForwardConfig
from mtquant.config.store import config_dir
from mtquant.data import Fold, fold_splits, load_market_data, walk_forward_folds
from mtquant.evaluation import RiskInterventions, StrategyResult
from mtquant.evaluation.evaluation_report import SYSTEM
from mtquant.evaluation.walk_forward_report import write_backtest_report
from mtquant.studies.walk_forward import SeedRun, assemble_fold, select_folds
from mtquant.studies.walk_forward_grid import (
    DONE_FILE,
    FAILED_FILE,
    RESULT_FILE,
    WalkForwardGrid,
    check_overrides,
    failed_rows,
    job_config,
    job_dir,
    job_hash,
    read_grid,
    read_job,
    run_grid_job,
    sweep_params,
)

# synthetic, uncalibrated, 2008-01..2013-05: two folds (tests 2011 H1 and 2012 H1), loads in ms
SMALL = [
    "data=synthetic",
    "data.synthetic.calibrate_to_packaged=false",
    "data.synthetic.n_days=1400",
    "data.walk_forward.initial_train_years=3",
    "extras.seeds=[0,1]",
    "extras.cost_multipliers=[1.0]",
]
DATES = pd.bdate_range("2000-01-03", "2006-12-29")
FOLDS = walk_forward_folds(DATES, WalkForwardConfig(3, 12, 6))  # 4 folds: 0..3


def hydra_config(overrides: list[str]) -> DictConfig:
    """The backtest config with its ``hydra`` node, as a multirun's callbacks receive it."""
    register_configs()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("backtest", overrides=overrides, return_hydra_config=True)


def small_cfg(*extra: str) -> RunConfig:
    return to_object(compose_config("backtest", [*SMALL, *extra]))


def walk_forward_folds_of(cfg: RunConfig) -> list[Fold]:
    return walk_forward_folds(load_market_data(cfg).dates, cfg.data.walk_forward)


# ---------------------------------------------------------------------------- folds and config
def test_last_folds_keeps_the_last_n_folds_and_fold_picks_one() -> None:
    assert [f.index for f in select_folds(FOLDS, WalkForwardConfig(3, 12, 6))] == [0, 1, 2, 3]
    last2 = WalkForwardConfig(3, 12, 6, last_folds=2)
    assert [f.index for f in select_folds(FOLDS, last2)] == [2, 3]
    one = WalkForwardConfig(3, 12, 6, last_folds=2, fold=3)
    assert [f.index for f in select_folds(FOLDS, one)] == [3]


def test_last_folds_beyond_the_data_and_a_fold_outside_them_name_key_and_value() -> None:
    with pytest.raises(ConfigError, match=r"data.walk_forward.last_folds=5: .* only 4"):
        select_folds(FOLDS, WalkForwardConfig(3, 12, 6, last_folds=5))
    with pytest.raises(ConfigError, match=r"data.walk_forward.fold=1: not among .*\[2, 3\]"):
        select_folds(FOLDS, WalkForwardConfig(3, 12, 6, last_folds=2, fold=1))


@pytest.mark.parametrize("value", [0, -2])
def test_last_folds_must_be_a_positive_number_of_folds(value: int) -> None:
    with pytest.raises(ConfigError, match=rf"data.walk_forward.last_folds={value}: expected a pos"):
        to_object(compose_config("backtest", [f"data.walk_forward.last_folds={value}"]))
    assert small_cfg("data.walk_forward.last_folds=null").data.walk_forward.last_folds is None


# ---------------------------------------------------------------------------- the sweep
def test_multirun_start_writes_the_fold_by_seed_grid_into_the_sweeper_params() -> None:
    config = hydra_config([*SMALL, "data.walk_forward.last_folds=2"])
    WalkForwardGrid().on_multirun_start(config)
    params = dict(config.hydra.sweeper.params)
    assert params == {"data.walk_forward.fold": "0,1", "seed": "0,1"}
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    (jobs,) = BasicSweeper.split_arguments(parsed, None)
    assert jobs == [  # fold-major: every seed of every fold
        ["data.walk_forward.fold=0", "seed=0"], ["data.walk_forward.fold=0", "seed=1"],
        ["data.walk_forward.fold=1", "seed=0"], ["data.walk_forward.fold=1", "seed=1"],
    ]  # fmt: skip
    config = hydra_config([*SMALL, "data.walk_forward.last_folds=1", "extras.seeds=[4,2,9]"])
    WalkForwardGrid().on_multirun_start(config)
    assert dict(config.hydra.sweeper.params) == {"data.walk_forward.fold": "1", "seed": "4,2,9"}


def test_sweep_params_follow_the_folds_and_seeds() -> None:
    assert sweep_params(FOLDS[2:], (0, 1, 2)) == {"data.walk_forward.fold": "2,3", "seed": "0,1,2"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=3", "sets seed per job"),
        ("data.walk_forward.fold=1", "sets data.walk_forward.fold per job"),
        ("risk=default,conservative", "a sweep inside the walk-forward grid"),
    ],
)
def test_grid_refuses_overrides_it_cannot_stitch(override: str, message: str) -> None:
    check_overrides(["extras.seeds=[0,1]", "data.walk_forward.last_folds=2"])  # fine
    with pytest.raises(ConfigError, match=message):
        check_overrides([override])


def test_job_directory_is_hydras_sweep_subdir_of_the_job() -> None:
    config = hydra_config([*SMALL, "data.walk_forward.fold=1", "seed=0"])
    assert config.hydra.sweep.subdir == str(job_dir("sweep", 1, 0).relative_to("sweep"))


def test_job_hash_is_the_composed_jobs_and_ignores_last_folds() -> None:
    master = small_cfg("data.walk_forward.last_folds=2")
    job = small_cfg("data.walk_forward.last_folds=2", "data.walk_forward.fold=1", "seed=1")
    assert job_hash(job_config(master, 1, 1)) == job_hash(job)
    assert job_hash(job_config(small_cfg(), 1, 1)) == job_hash(job)  # last_folds: not a change
    assert job_hash(job_config(master, 1, 0)) != job_hash(job)
    other = small_cfg("data.walk_forward.fold=1", "seed=1", "extras.cost_multipliers=[1.0,2.0]")
    assert job_hash(other) != job_hash(job)


# ---------------------------------------------------------------------------- job files
def _result(name: str, fold: Fold, scale: float, seed: int) -> StrategyResult:
    n = 40
    rng = np.random.default_rng(fold.index * 10 + seed)
    r = rng.normal(0.0, scale, n)
    var = np.full(n, 0.02)
    start = np.datetime64(DATES[fold.test[0]].date(), "D")
    return StrategyResult(
        name, start + np.arange(n), r, 100.0 * np.cumprod(1 + r), np.ones((n, 2)),
        {c: np.full(n, 0.01) for c in ("spread", "commission", "slippage", "swap")}, 100.0,
        var_forecasts=var, interventions=RiskInterventions({"var": 1}, var * 2, var),
        sectors=["fx", "equity"],
    )  # fmt: skip


def _seed_run(fold: Fold, seed: int, baselines: list[str]) -> SeedRun:
    return SeedRun(
        fold.index, seed, {1.0: _result(SYSTEM, fold, 0.01, seed)}, {}, 1.5,
        {"median_ms": 2.0},
        {n: {1.0: _result(n, fold, 0.008, 99)} for n in baselines},
        ["equal_weight", "inverse_vol"],
    )  # fmt: skip


def _finish(sweep: Path, cfg: RunConfig, run: SeedRun, digest: str | None = None) -> None:
    """A finished job's files, as :func:`run_grid_job` writes them."""
    where = job_dir(sweep, run.fold, run.seed)
    where.mkdir(parents=True)
    (where / RESULT_FILE).write_bytes(pickle.dumps(run))
    digest = digest or job_hash(job_config(cfg, run.fold, run.seed))
    (where / DONE_FILE).write_text(json.dumps({"config_hash": digest, "train_seconds": 1.5}))


def test_a_missing_job_is_named_and_the_others_are_reported(tmp_path: Path) -> None:
    cfg = small_cfg()
    folds = FOLDS[2:]
    _finish(tmp_path, cfg, _seed_run(folds[0], 0, ["equal_weight"]))
    _finish(tmp_path, cfg, _seed_run(folds[0], 1, ["inverse_vol"]))
    _finish(tmp_path, cfg, _seed_run(folds[1], 0, ["equal_weight"]))
    # fold 3 seed 1: killed before it finished (no marker, no result)
    finished, outcomes = read_grid(cfg, folds, tmp_path)
    assert [(o.fold, o.seed, o.status) for o in outcomes] == [
        (2, 0, "done"), (2, 1, "done"), (3, 0, "done"), (3, 1, "missing"),
    ]  # fmt: skip
    assert [(f.index, [r.seed for r in runs]) for f, runs in finished] == [(2, [0, 1]), (3, [0])]
    rows = failed_rows(outcomes)
    assert rows == [
        {"fold": 3, "seed": 1, "job_dir": "fold_3/seed_1", "status": "missing",
         "reason": outcomes[-1].reason},
    ]  # fmt: skip
    assert "killed" in rows[0]["reason"] and "hydra.sweep.dir" in rows[0]["reason"]

    fold_runs = []
    for fold, runs in finished:
        tested = {k: v for r in runs for k, v in r.baselines.items()}
        tested.setdefault("inverse_vol", {1.0: _result("inverse_vol", fold, 0.008, 98)})
        splits = fold_splits(DATES, fold, val_months=6, warmup_days=100)
        fold_runs.append(assemble_fold(fold, splits, runs, tested))
    data = SimpleNamespace(dates=DATES, provenance={})
    paths = write_backtest_report(cfg, data, fold_runs, tmp_path, 1.0, failed_jobs=rows)
    metrics = json.loads(paths["metrics"].read_text())
    tables = metrics["extra_tables"]
    assert tables["Failed jobs"] == rows
    assert [r["seed"] for r in tables["System by seed (folds stitched, cost 1x)"]] == [0]
    system_runs = [(r["fold"], r["seed"]) for r in tables["Runs"] if r["strategy"] == SYSTEM]
    assert system_runs == [(2, "0"), (2, "1"), (3, "0")]
    assert any("left no result" in line for line in metrics["verdict"])
    page = paths["html"].read_text()
    assert "<h2>Failed jobs</h2>" in page and "fold_3/seed_1" in page


def test_a_failed_job_a_foreign_result_and_a_corrupt_one_are_named(tmp_path: Path) -> None:
    cfg = small_cfg()
    fold = FOLDS[3]
    failed = job_dir(tmp_path, 3, 0)
    failed.mkdir(parents=True)
    (failed / FAILED_FILE).write_text(json.dumps({"error": "DataError: no prices on 2006-07-03"}))
    run, outcome = read_job(cfg, tmp_path, 3, 0)
    assert run is None and (outcome.status, outcome.reason) == (
        "failed", "DataError: no prices on 2006-07-03",
    )  # fmt: skip
    _finish(tmp_path, cfg, _seed_run(fold, 1, []), digest="0123456789abcdef")
    run, outcome = read_job(cfg, tmp_path, 3, 1)
    assert run is None and outcome.status == "failed" and "another config" in outcome.reason
    _finish(tmp_path, cfg, _seed_run(FOLDS[2], 0, []))
    (job_dir(tmp_path, 2, 0) / RESULT_FILE).write_bytes(b"\x80\x05truncated")
    run, outcome = read_job(cfg, tmp_path, 2, 0)
    assert run is None and outcome.status == "failed" and "unreadable" in outcome.reason


def test_a_finished_job_is_skipped_and_a_failing_one_records_its_error(tmp_path: Path) -> None:
    master = small_cfg()
    done = _seed_run(walk_forward_folds_of(master)[1], 0, ["equal_weight"])
    _finish(tmp_path, master, done)
    files = sorted(job_dir(tmp_path, 1, 0).iterdir())
    stamps = [p.stat().st_mtime_ns for p in files]
    outcome = run_grid_job(job_config(master, 1, 0), tmp_path)
    assert outcome.status == "skipped" and outcome.train_seconds == 1.5
    assert [p.stat().st_mtime_ns for p in sorted(job_dir(tmp_path, 1, 0).iterdir())] == stamps
    # a seed outside extras.seeds fails inside the job: recorded, not raised
    outcome = run_grid_job(job_config(master, 1, 7), tmp_path)
    assert outcome.status == "failed" and "seed=7: not among extras.seeds [0, 1]" in outcome.reason
    error = json.loads((job_dir(tmp_path, 1, 7) / FAILED_FILE).read_text())
    assert error["error"] == outcome.reason and "Traceback" in error["traceback"]
    assert not (job_dir(tmp_path, 1, 7) / DONE_FILE).exists()


# ---------------------------------------------------------------------------- the bench section
def test_grid_bench_runs_the_same_walk_forward_serially_and_as_the_grid(tmp_path: Path) -> None:
    s = bench_settings({"walk_forward_grid": True, "grid_n_jobs": 3})
    cmds = grid_commands(s, tmp_path / "serial", tmp_path / "grid")
    serial, grid = cmds["serial"], cmds["grid"]
    assert serial[1] == grid[1] and serial[1].endswith("scripts/backtest.py")
    assert grid[2:5] == ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=3"]
    assert serial[2:-1] == grid[5:-1] == s.grid_overrides
    assert "data.walk_forward.last_folds=2" in s.grid_overrides
    assert (serial[-1], grid[-1]) == (
        f"hydra.run.dir={tmp_path / 'serial'}", f"hydra.sweep.dir={tmp_path / 'grid'}",
    )  # fmt: skip
    assert not bench_settings({}).walk_forward_grid  # optional: off by default
    with pytest.raises(ConfigError, match="extras.grid_n_jobs=0"):
        bench_settings({"grid_n_jobs": 0})
