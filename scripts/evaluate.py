"""Evaluate a training run on a held-out split: metrics.json, PNG plots and report.html.

    python scripts/evaluate.py checkpoint=outputs/train/RUN [data=synthetic] [split=test]

Loads the run's exports (refusing a checkpoint whose instruments or dimensions differ from the
config), runs the system and every baseline deterministically through the environment and the
risk transform on ``split``, and writes the report into the Hydra run dir.
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mtquant.config import register_configs, to_object
from mtquant.errors import MTQuantError

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(dcfg: DictConfig) -> None:
    from mtquant.errors import CheckpointError
    from mtquant.experiment import Experiment

    try:
        cfg = to_object(dcfg)
        if not cfg.checkpoint:
            raise CheckpointError(
                "config checkpoint: give the training run directory (checkpoint=DIR)"
            )
        experiment = Experiment.from_config(cfg)  # data and features exactly as training built them
        experiment.load(cfg.checkpoint)
        out = cfg.output_dir or HydraConfig.get().runtime.output_dir
        paths = experiment.write_report(experiment.evaluate(cfg.split), out)
    except MTQuantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"report: {paths['html']}")
    print(f"metrics: {paths['metrics']}")


if __name__ == "__main__":
    main()
