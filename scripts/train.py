"""Train the hierarchical system: the three PPO phases, in order (or those in ``training.phases``).

    python scripts/train.py training=smoke logger=csv data=synthetic hydra.run.dir=outputs/x
    python scripts/train.py -m seed=0,1,2 risk=default,conservative training=smoke

Returns the validation Sharpe so that Hydra sweepers can optimise it. Re-running with the same
``hydra.run.dir`` skips completed phases and resumes an interrupted one from its ``last.ckpt``.
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mtquant.config import register_configs, to_object
from mtquant.errors import MTQuantError

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(dcfg: DictConfig) -> float:
    from mtquant.config.sweeps import trials_record
    from mtquant.experiment import Experiment

    try:
        cfg = to_object(dcfg)
        hydra_cfg = HydraConfig.get()
        experiment = Experiment.from_config(cfg)  # seeds torch, numpy and the policy's weights
        multirun = hydra_cfg.mode.name == "MULTIRUN"  # the sweep's size goes to the model card
        experiment.trials = trials_record(
            hydra_cfg.mode.name, hydra_cfg.sweep.dir if multirun else None, hydra_cfg.job.get("num")
        )
        result = experiment.fit(cfg.output_dir or hydra_cfg.runtime.output_dir)
    except MTQuantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sharpe = float(result["val/sharpe"])
    print(f"val/sharpe={sharpe:.4f} run_dir={result['run_dir']}")
    return sharpe


if __name__ == "__main__":
    main()
