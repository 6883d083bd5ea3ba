"""The single-agent stage end to end: trained by Experiment.fit, exported, skipped, resumed, scored."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from training_runs import TINY_PPO

from mtquant.artifacts import SINGLE_AGENT_COMPONENT as SINGLE_AGENT
from mtquant.artifacts import SINGLE_AGENT_EXPORT, RunDir, load_export
from mtquant.config import compose_config, to_object
from mtquant.errors import CheckpointError
from mtquant.experiment import Experiment

# the smoke schedule shrunk: 8 accounts x 32 days a rollout, 2 rollouts
TINY = [
    *TINY_PPO,
    "training.single_agent.timesteps=512",
    "training.single_agent.frames_per_batch=256",
    "training.single_agent.hidden_dim=64",
    "training.phases=[single_agent]",
]


def _cfg(*overrides: str):
    return to_object(compose_config("train", [*TINY, *overrides]))


def _train(run: Path, *overrides: str) -> dict:
    return Experiment.from_config(_cfg(*overrides)).fit(run)


def test_single_agent_stage_exports_checkpoints_logs_and_is_scored_by_evaluation(tmp_path):
    run = tmp_path / "run"
    result = _train(run)
    assert set(result["phases"]) == {"single_agent"}
    assert result["phases"]["single_agent"]["frames"] == 512.0
    _, meta = load_export(run / SINGLE_AGENT_EXPORT)
    assert meta["component"] == "single_agent_ppo" and meta["phase"] == "single_agent"
    assert meta["dims"]["hidden_dim"] == 64 and len(meta["symbols"]) == 8
    assert (run / "checkpoints" / "single_agent" / "last.ckpt").is_file()
    rows = list(csv.DictReader((run / "logs" / "single_agent" / "metrics.csv").open()))
    header = rows[0].keys()
    for key in ("train/approx_kl", "rollout/explained_variance/meta", "val/sharpe"):
        assert key in header
    entropy = float(next(r for r in rows if r.get("train/entropy_loss"))["train/entropy_loss"])
    assert 0.0 < entropy <= 8 * torch.log(torch.tensor(3.0)).item() + 1e-4  # 8 heads of 3
    assert not (run / "hierarchical_system_final.pt").exists()

    exp = Experiment.from_config(_cfg())
    with pytest.raises(CheckpointError, match="no complete phase export"):
        exp.load(run)  # an evaluation needs the hierarchy: the flat agent alone is not a system
    exp.flat = RunDir(run).load_flat(exp.cfg, exp.universe.specialist_index())
    policies, missing = exp.baselines()
    assert SINGLE_AGENT in policies and not missing
    res = exp.run(policies[SINGLE_AGENT], "flat", exp.splits.val)
    assert len(res.equity) > 100 and torch.isfinite(torch.as_tensor(res.equity)).all()

    stamp = (run / SINGLE_AGENT_EXPORT).stat().st_mtime_ns
    again = _train(run)  # the export exists: the stage is skipped (its weights checked and loaded)
    assert again["phases"] == {}
    assert (run / SINGLE_AGENT_EXPORT).stat().st_mtime_ns == stamp


def test_interrupted_single_agent_resumes_from_last_ckpt_to_the_same_weights(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    _train(full, "training.single_agent.timesteps=1024")
    _train(cut)  # 2 of 4 rollouts, then "interrupted": the export is removed, last.ckpt stays
    (cut / SINGLE_AGENT_EXPORT).unlink()
    _train(cut, "training.single_agent.timesteps=1024")
    a, _ = load_export(full / SINGLE_AGENT_EXPORT)
    b, _ = load_export(cut / SINGLE_AGENT_EXPORT)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
