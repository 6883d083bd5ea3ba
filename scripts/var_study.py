"""Backtest every VaR model on walk-forward folds and, on the research folds, choose one.

    python scripts/var_study.py                              # research: folds ending pre-2011
    python scripts/var_study.py extras.period=holdout \\
        extras.var_methods=[<chosen>]                        # the 2011-2018 folds, once

Writes ``var_study.json`` and ``var_study.md`` into the Hydra run dir (see
:mod:`mtquant.studies.var_selection` for the protocol and the choice rule).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mtquant.config import register_configs, to_object
from mtquant.errors import MTQuantError

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="var_study")
def main(dcfg: DictConfig) -> None:
    from mtquant.evaluation.report import atomic_write_text, to_jsonable
    from mtquant.studies.var_selection import run_study

    try:
        cfg = to_object(dcfg)
        study = run_study(cfg)
    except MTQuantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    out = Path(cfg.output_dir or HydraConfig.get().runtime.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "var_study.json", json.dumps(to_jsonable(study), indent=2))
    atomic_write_text(out / "var_study.md", study["markdown"])
    print(study["markdown"])
    if "choice" in study:
        print(f"chosen: {study['choice']['chosen']} ({study['choice']['rule']})")
    print(f"written: {out / 'var_study.json'}")


if __name__ == "__main__":
    main()
