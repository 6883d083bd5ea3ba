"""The walk-forward as a grid of independent Hydra jobs, one per (fold, seed), stitched at the end.

::

    python scripts/backtest.py -m hydra/launcher=joblib hydra.launcher.n_jobs=2 \\
        data.walk_forward.last_folds=2 extras.seeds=[0,1]

Hydra does the work (``conf/hydra/backtest.yaml``, the backtest's Hydra settings, registers
:class:`WalkForwardGrid` under ``hydra.callbacks`` and sets ``hydra.sweep.subdir``):

1. ``on_multirun_start`` (main process, before the sweeper is built) loads the data, finds the
   folds the serial run would cover (:func:`~mtquant.studies.walk_forward.select_folds`:
   ``data.walk_forward.last_folds``) and writes the grid as the basic sweeper's
   ``hydra.sweeper.params``: ``data.walk_forward.fold`` over those folds x ``seed`` over
   ``extras.seeds`` (fold-major). The launcher (basic: in process; ``hydra/launcher=joblib``: local
   processes; submitit: a cluster) runs one job per pair;
2. each job (:func:`run_grid_job`, called by ``scripts/backtest.py`` in multirun mode) trains and
   tests its seed on its fold through :func:`~mtquant.studies.walk_forward.run_seed` into its
   own directory ``<hydra.sweep.dir>/fold_<k>/seed_<s>/`` (``hydra.sweep.subdir``): the training
   run (exports, ``checkpoints/<stage>/last.ckpt``), then ``walk_forward_job.pkl`` (its
   :class:`~mtquant.studies.walk_forward.SeedRun`) and the ``done.json`` marker, each written
   atomically (temp file, then ``os.replace``). The rule-based baselines do not depend on the
   seed, so the fold's jobs share them out (:func:`~mtquant.studies.walk_forward.baseline_share`;
   the report tests the share of a job that failed itself). A job that fails writes
   ``failed.json`` (the error) and returns, so the other jobs and the report go on;
3. ``on_multirun_end`` (:func:`write_grid_report`) reads every job directory and writes the
   serial run's report into the sweep directory (``metrics.json``, ``report.html``, the PNGs)
   with a "Failed jobs" table naming each job that failed or left no result, and
   ``walk_forward.json``: the grid, every job's status and the failed ones. It exits with
   status 2 when a job did not finish, after writing the report of the others.

Jobs are idempotent: re-running the same command with the same ``hydra.sweep.dir`` skips a
job whose ``done.json`` records the same job config (its hash), and a killed job resumes its
training from each stage's ``last.ckpt`` (finished stages are loaded). A job directory that
holds another config's finished job is refused (named as failed), never reused.
``data.walk_forward.last_folds`` is left out of a job's hash: it selects jobs, it does not
change one, so a grid widened from the last 2 to the last 3 folds reuses the 2 finished ones.
The result files are pickles written by these jobs for this report: read only sweep
directories you trust.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import pickle
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

from mtquant.artifacts import run_hash
from mtquant.config import ConfigError, RunConfig, to_object
from mtquant.data import Fold, MarketData, fold_splits, load_market_data, walk_forward_folds
from mtquant.errors import DataError, MTQuantError
from mtquant.evaluation.walk_forward_report import BacktestPlan, FoldRun, write_backtest_report
from mtquant.studies.walk_forward import (
    SeedRun,
    assemble_fold,
    baseline_share,
    fold_experiment,
    run_baselines,
    run_seed,
    select_folds,
)

FOLD_KEY = "data.walk_forward.fold"  # swept per job
SEED_KEY = "seed"  # swept per job, over extras.seeds
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
RESULT_FILE = "walk_forward_job.pkl"  # the job's SeedRun
DONE_FILE = "done.json"  # written last: the job finished
FAILED_FILE = "failed.json"  # the error of a job that failed
GRID_FILE = "walk_forward.json"  # the grid and every job's status, in the sweep dir
JOB_FORMAT = "mtquant-walk-forward-job/1"
log = logging.getLogger("mtquant.walk_forward")


@dataclass(frozen=True)
class JobOutcome:
    """What became of one (fold, seed) job: ``status`` done | failed | missing (no result and no
    error: killed or not run) | skipped (finished before; this call reused it)."""

    fold: int
    seed: int
    job_dir: str  # relative to the sweep dir
    status: str
    reason: str = ""
    train_seconds: float | None = None


# ---------------------------------------------------------------------------- files
def job_dir(sweep_dir: str | Path, fold: int, seed: int) -> Path:
    """``<sweep>/fold_<k>/seed_<s>``: a job's directory (``hydra.sweep.subdir``, conf/hydra)."""
    return Path(sweep_dir) / f"fold_{fold}" / f"seed_{seed}"


def _write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to a temp file next to ``path``, then ``os.replace`` it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(path: Path, payload: dict[str, Any]) -> Path:
    _write_atomic(path, (json.dumps(payload, indent=2, default=str) + "\n").encode())
    return path


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when absent or unreadable (a marker being replaced is
    never half-written: markers are written atomically)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------------------- the grid
def task_config(config: DictConfig) -> RunConfig:
    """The run config of the multirun's ``config`` (Hydra's own ``hydra`` node left out, as a
    job's task function receives it), range-checked."""
    task = copy.deepcopy(config)
    with read_write(task), open_dict(task):
        task.pop("hydra", None)
    return to_object(task)


def grid_folds(cfg: RunConfig, data: MarketData) -> list[Fold]:
    """The folds the grid covers: those the serial run would (``data.walk_forward.last_folds``)."""
    wf = cfg.data.walk_forward
    return select_folds(walk_forward_folds(data.dates, wf), wf)


def sweep_params(folds: list[Fold], seeds: tuple[int, ...]) -> dict[str, str]:
    """The basic sweeper's params of the grid: fold-major, every seed of every fold."""
    return {
        FOLD_KEY: ",".join(str(f.index) for f in folds),
        SEED_KEY: ",".join(str(s) for s in seeds),
    }


def check_overrides(task_overrides: list[str]) -> None:
    """Refuse command-line overrides the grid cannot stitch: a sweep of any key (one report per
    configuration), or a value for the keys the grid sets per job."""
    for ov in OverridesParser.create().parse_overrides(task_overrides):
        key = ov.key_or_group
        if key in (FOLD_KEY, SEED_KEY):
            raise ConfigError(
                f"config {ov.input_line}: the walk-forward grid sets {key} per job; choose the "
                f"folds with data.walk_forward.last_folds and the seeds with extras.seeds"
            )
        if ov.is_sweep_override():
            raise ConfigError(
                f"config {ov.input_line}: a sweep inside the walk-forward grid (-m runs one "
                f"configuration over folds x seeds and stitches them); run one -m per value"
            )


def job_config(cfg: RunConfig, fold: int, seed: int) -> RunConfig:
    """The config of the grid's job (``fold``, ``seed``): what the job's Hydra composition gives."""
    wf = replace(cfg.data.walk_forward, fold=fold)
    return replace(cfg, seed=seed, data=replace(cfg.data, walk_forward=wf))


def job_hash(cfg: RunConfig) -> str:
    """Hash of a job's config; ``last_folds`` left out (it selects jobs, it changes none)."""
    wf = replace(cfg.data.walk_forward, last_folds=None)
    return run_hash(replace(cfg, data=replace(cfg.data, walk_forward=wf)))


# ---------------------------------------------------------------------------- one job
def run_grid_job(cfg: RunConfig, sweep_dir: str | Path) -> JobOutcome:
    """Run the job of ``cfg`` (fold ``data.walk_forward.fold``, seed ``seed``) into its directory
    (module doc), or skip it when finished; a failure is written to ``failed.json`` and returned,
    not raised, so the grid goes on."""
    wf = cfg.data.walk_forward
    if wf.fold is None:
        raise ConfigError(f"a walk-forward grid job needs {FOLD_KEY} (set by the grid's sweep)")
    fold_index, seed = wf.fold, cfg.seed
    where = job_dir(sweep_dir, fold_index, seed)
    rel = str(where.relative_to(sweep_dir))
    digest = job_hash(cfg)
    done = _read_json(where / DONE_FILE)
    if done is not None and done.get("config_hash") == digest:
        finished, _ = read_job(cfg, sweep_dir, fold_index, seed)
        if finished is not None:  # else a marker whose result is gone or unreadable: run again
            return JobOutcome(
                fold_index, seed, rel, "skipped", train_seconds=finished.train_seconds
            )
    (where / FAILED_FILE).unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        if done is not None and done.get("config_hash") != digest:
            raise ConfigError(
                f"{where} holds a finished job of another config (config hash "
                f"{done.get('config_hash')}, this job's {digest}): run the grid in a new "
                f"hydra.sweep.dir"
            )
        (where / DONE_FILE).unlink(missing_ok=True)  # a marker without its result: run again
        plan = BacktestPlan.from_config(cfg)
        if seed not in plan.seeds:
            raise ConfigError(f"config seed={seed}: not among extras.seeds {list(plan.seeds)}")
        data = load_market_data(cfg)
        (fold,) = select_folds(walk_forward_folds(data.dates, wf), wf)
        exp = fold_experiment(cfg, data, fold)
        result = run_seed(exp, fold, plan, seed, where, time_decisions=True)
        # the baselines do not depend on the seed: the fold's jobs share them out
        result.baseline_names, mine = baseline_share(exp, plan, seed)
        result.baselines = run_baselines(exp, fold, plan, mine)
        _write_atomic(where / RESULT_FILE, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        _write_json(
            where / DONE_FILE,
            {
                "format": JOB_FORMAT, "fold": fold_index, "seed": seed, "config_hash": digest,
                "train_seconds": result.train_seconds,
                "wall_seconds": time.perf_counter() - t0,
                "finished": datetime.now().isoformat(timespec="seconds"),
            },
        )  # fmt: skip
        return JobOutcome(fold_index, seed, rel, "done", train_seconds=result.train_seconds)
    except Exception as exc:  # recorded for the report; the other jobs go on
        reason = f"{type(exc).__name__}: {exc}"
        log.error("walk-forward job fold %s seed %s failed: %s", fold_index, seed, reason)
        _write_json(
            where / FAILED_FILE,
            {
                "format": JOB_FORMAT, "fold": fold_index, "seed": seed, "error": reason,
                "traceback": traceback.format_exc(),
                "failed": datetime.now().isoformat(timespec="seconds"),
            },
        )  # fmt: skip
        return JobOutcome(fold_index, seed, rel, "failed", reason)


def read_job(
    cfg: RunConfig, sweep_dir: str | Path, fold: int, seed: int
) -> tuple[SeedRun | None, JobOutcome]:
    """The finished job's :class:`SeedRun` and its outcome, or None and why there is none."""
    where = job_dir(sweep_dir, fold, seed)
    rel = str(where.relative_to(sweep_dir))

    def failed(status: str, reason: str) -> tuple[None, JobOutcome]:
        return None, JobOutcome(fold, seed, rel, status, reason)

    done = _read_json(where / DONE_FILE)
    if done is None:
        error = _read_json(where / FAILED_FILE)
        if error is not None:
            return failed("failed", str(error.get("error", "failed (no message)")))
        return failed(
            "missing",
            "no result: the job did not finish (killed, interrupted or not run); re-run the "
            "same command with hydra.sweep.dir set to this sweep dir to resume it",
        )
    expected = job_hash(job_config(cfg, fold, seed))
    if done.get("config_hash") != expected:
        return failed(
            "failed",
            f"the result is of another config (config hash {done.get('config_hash')}, this "
            f"grid's {expected}): run the grid in a new hydra.sweep.dir",
        )
    path = where / RESULT_FILE
    try:
        result = pickle.loads(path.read_bytes())
    except Exception as exc:  # missing, truncated or foreign file
        return failed("failed", f"{path}: unreadable ({type(exc).__name__}: {exc})")
    if not isinstance(result, SeedRun) or (result.fold, result.seed) != (fold, seed):
        return failed("failed", f"{path}: not the result of fold {fold} seed {seed}")
    return result, JobOutcome(fold, seed, rel, "done", train_seconds=result.train_seconds)


# ---------------------------------------------------------------------------- the report
def read_grid(
    cfg: RunConfig, folds: list[Fold], sweep_dir: str | Path
) -> tuple[list[tuple[Fold, list[SeedRun]]], list[JobOutcome]]:
    """``([(fold, its finished runs in seed order)] for folds with at least one, every job's
    outcome in grid order)``: what the sweep dir holds for the grid over ``folds``."""
    seeds = BacktestPlan.from_config(cfg).seeds
    outcomes: list[JobOutcome] = []
    finished: list[tuple[Fold, list[SeedRun]]] = []
    for fold in folds:
        runs = []
        for seed in seeds:
            run, outcome = read_job(cfg, sweep_dir, fold.index, seed)
            outcomes.append(outcome)
            if run is not None:
                runs.append(run)
        if runs:
            finished.append((fold, runs))
    return finished, outcomes


def collect_folds(
    cfg: RunConfig, data: MarketData, finished: list[tuple[Fold, list[SeedRun]]]
) -> list[FoldRun]:
    """The finished folds as the serial run assembles them: the baselines the fold's jobs
    tested, plus the share of a job that failed (tested here), and the last fold's features
    (what the report reads; computed here)."""
    plan = BacktestPlan.from_config(cfg)
    split = cfg.data.split
    folds = []
    for i, (fold, runs) in enumerate(finished):
        last = i == len(finished) - 1
        names = next((r.baseline_names for r in runs if r.baseline_names), [])
        tested = {k: v for r in runs for k, v in r.baselines.items()}
        missing = [n for n in names if n not in tested]
        exp = fold_experiment(cfg, data, fold) if last or missing else None
        if exp is not None and missing:
            tested.update(run_baselines(exp, fold, plan, missing))
        splits = fold_splits(data.dates, fold, split.val_months, split.warmup_days)
        baselines = {n: tested[n] for n in names}
        features = exp.features if exp is not None and last else None
        folds.append(assemble_fold(fold, splits, runs, baselines, features))
    return folds


def failed_rows(outcomes: list[JobOutcome]) -> list[dict[str, Any]]:
    """The report's "Failed jobs" rows: every job that did not finish, and why."""
    return [
        {"fold": o.fold, "seed": o.seed, "job_dir": o.job_dir, "status": o.status,
         "reason": o.reason}
        for o in outcomes
        if o.status != "done"
    ]  # fmt: skip


def write_grid_report(
    cfg: RunConfig, sweep_dir: str | Path, wall_seconds: float
) -> tuple[dict[str, Path], list[JobOutcome]]:
    """Stitch the grid's jobs into the serial run's report in ``sweep_dir`` (with the "Failed
    jobs" table) and write ``walk_forward.json``; return the paths and every job's outcome.

    Raises :class:`DataError` (after writing ``walk_forward.json``) when no job finished."""
    out = Path(sweep_dir)
    data = load_market_data(cfg)
    finished, outcomes = read_grid(cfg, grid_folds(cfg, data), out)
    failed = failed_rows(outcomes)
    grid: dict[str, Any] = {
        "sweep_dir": str(out),
        "folds": list(dict.fromkeys(o.fold for o in outcomes)),
        "seeds": list(BacktestPlan.from_config(cfg).seeds),
        "jobs": [asdict(o) for o in outcomes],
        "failed_jobs": failed,
        "wall_seconds": round(wall_seconds, 1),
    }
    if not finished:
        _write_json(out / GRID_FILE, grid)
        raise DataError(
            f"walk-forward grid {out}: no job finished ({len(outcomes)} jobs; see {GRID_FILE})"
        )
    folds = collect_folds(cfg, data, finished)
    paths = write_backtest_report(cfg, data, folds, out, wall_seconds, failed_jobs=failed)
    grid.update(report=paths["html"].name, metrics=paths["metrics"].name)
    paths["grid"] = _write_json(out / GRID_FILE, grid)
    return paths, outcomes


def _failure_line(outcomes: list[JobOutcome], sweep_dir: str) -> str:
    failed = [o for o in outcomes if o.status != "done"]
    names = "; ".join(f"fold {o.fold} seed {o.seed} ({o.status}: {o.reason})" for o in failed)
    return (
        f"{len(failed)} of {len(outcomes)} walk-forward jobs did not finish: {names}. Re-run "
        f"the same command with hydra.sweep.dir={sweep_dir} to retry them (finished jobs are "
        f"skipped)"
    )


# ---------------------------------------------------------------------------- Hydra callback
class WalkForwardGrid(Callback):
    """Expands ``-m`` of ``scripts/backtest.py`` into the (fold, seed) grid and stitches it
    (module doc); registered in ``conf/hydra/backtest.yaml`` under ``hydra.callbacks``. In a
    single run (no ``-m``) it does nothing."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Write the grid into ``hydra.sweeper.params`` (before Hydra builds the sweeper)."""
        self._start = time.perf_counter()
        try:
            sweeper = config.hydra.sweeper
            if sweeper.get("_target_") != BASIC_SWEEPER:
                raise ConfigError(
                    f"config hydra.sweeper: the walk-forward grid expands with Hydra's basic "
                    f"sweeper, got {sweeper.get('_target_')}; use hydra/sweeper=basic"
                )
            if sweeper.get("params"):
                raise ConfigError(
                    f"config hydra.sweeper.params={dict(sweeper.params)}: the walk-forward grid "
                    "sets them (folds x seeds)"
                )
            check_overrides(list(config.hydra.overrides.task))
            cfg = task_config(config)
            if cfg.output_dir is not None:
                raise ConfigError(
                    f"config output_dir={cfg.output_dir}: a grid writes into hydra.sweep.dir"
                )
            plan = BacktestPlan.from_config(cfg)
            folds = grid_folds(cfg, load_market_data(cfg))
        except MTQuantError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        params = sweep_params(folds, plan.seeds)
        with read_write(config.hydra.sweeper), open_dict(config.hydra.sweeper):
            config.hydra.sweeper.params = params
        log.info(
            "walk-forward grid: folds %s x seeds %s = %d jobs into %s",
            [f.index for f in folds], list(plan.seeds), len(folds) * len(plan.seeds),
            config.hydra.sweep.dir,
        )  # fmt: skip

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Stitch every job directory into the report in ``hydra.sweep.dir``; exit with status 2
        naming the jobs that did not finish (after writing the report of the others)."""
        sweep_dir = str(config.hydra.sweep.dir)
        try:
            cfg = task_config(config)
            paths, outcomes = write_grid_report(cfg, sweep_dir, time.perf_counter() - self._start)
        except MTQuantError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        print(f"report: {paths['html']}")
        print(f"metrics: {paths['metrics']}")
        print(f"grid: {paths['grid']}")
        if any(o.status != "done" for o in outcomes):
            print(f"error: {_failure_line(outcomes, sweep_dir)}", file=sys.stderr)
            sys.exit(2)
