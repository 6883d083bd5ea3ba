"""Walk-forward backtest: retrain on an expanding window, test on the next months, many seeds.

    python scripts/backtest.py                           # packaged 1999-2018, 3 seeds
    python scripts/backtest.py experiment=full_backtest  # 10 seeds, default training schedule
    python scripts/backtest.py data=synthetic extras.seeds=[0]

Writes metrics.json, the PNG plots and report.html (mean ± std across folds and seeds, every
run listed) into the Hydra run dir; each fold's and seed's training run lives beside them.
"""

from __future__ import annotations

import sys
import time

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mtquant.config import register_configs, to_object
from mtquant.errors import MTQuantError

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="backtest")
def main(dcfg: DictConfig) -> None:
    import torch

    from mtquant.evaluation.walk_forward_report import write_backtest_report
    from mtquant.studies.walk_forward import run_walk_forward

    try:
        cfg = to_object(dcfg)
        torch.set_num_threads(cfg.hardware.torch_threads)
        out = cfg.output_dir or HydraConfig.get().runtime.output_dir
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
