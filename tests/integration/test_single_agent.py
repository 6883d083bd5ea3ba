"""The single-agent stage end to end: trained by run_training, exported, skipped, resumed, scored."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from training_runs import TINY_PPO

from mtquant.agents.training.exports import load_export
from mtquant.agents.training.pipeline import prepare, run_training
from mtquant.agents.training.single_agent import SINGLE_AGENT_EXPORT
from mtquant.config import compose_config, to_object
from mtquant.evaluation.backtest import run_strategy
from mtquant.evaluation.checkpoint_eval import SINGLE_AGENT, baseline_policies

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
    torch.manual_seed(0)
    return run_training(_cfg(*overrides), run)


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

    cfg = _cfg()
    ctx = prepare(cfg)
    policies, missing = baseline_policies(cfg, ctx["features"], run)
    assert SINGLE_AGENT in policies and not missing
    res = run_strategy(cfg, ctx["features"], ctx["splits"].val, policies[SINGLE_AGENT], "flat")
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
