"""Walk-forward backtest: retrain on an expanding window, test on the next months, many seeds.

    python scripts/backtest.py                           # packaged 1999-2018, 3 seeds
    python scripts/backtest.py experiment=full_backtest  # 10 seeds, default training schedule
    python scripts/backtest.py data=synthetic extras.seeds=[0]
    python scripts/backtest.py data.walk_forward.last_folds=2     # the last 2 folds only
    python scripts/backtest.py -m hydra/launcher=joblib hydra.launcher.n_jobs=2 \\
        data.walk_forward.last_folds=2 extras.seeds=[0,1]         # one job per (fold, seed)

Writes metrics.json, the PNG plots and report.html (mean ± std across folds and seeds, every
run listed) into the Hydra run dir; each fold's and seed's training run lives beside them.
With -m, every (fold, seed) is a Hydra job (mtquant.studies.walk_forward_grid): the launcher
runs them, each into <hydra.sweep.dir>/fold_<k>/seed_<s>/, and the same report (plus a "Failed
jobs" table and walk_forward.json) is stitched into the sweep dir when the grid ends. Re-run the
command with hydra.sweep.dir=<that dir> to skip finished jobs and resume killed ones.
"""

from __future__ import annotations

import sys
import time

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from mtquant.config import register_configs, to_object
from mtquant.errors import MTQuantError

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="backtest")
def main(dcfg: DictConfig) -> None:
    import torch

    from mtquant.evaluation.walk_forward_report import write_backtest_report
    from mtquant.studies.walk_forward import run_walk_forward
    from mtquant.studies.walk_forward_grid import run_grid_job

    hydra_cfg = HydraConfig.get()
    try:
        cfg = to_object(dcfg)
        torch.set_num_threads(cfg.hardware.torch_threads)
        if hydra_cfg.mode == RunMode.MULTIRUN:  # one (fold, seed) job of the grid
            job = run_grid_job(cfg, hydra_cfg.sweep.dir)
            print(f"job fold {job.fold} seed {job.seed}: {job.status} {job.reason}".rstrip())
            return
        out = cfg.output_dir or hydra_cfg.runtime.output_dir
        t0 = time.perf_counter()
        data, folds = run_walk_forward(cfg, out)
        paths = write_backtest_report(cfg, data, folds, out, time.perf_counter() - t0)
    except MTQuantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"report: {paths['html']}")
    print(f"metrics: {paths['metrics']}")


if __name__ == "__main__":
    main()
