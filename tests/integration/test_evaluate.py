"""scripts/evaluate.py on a training run's exports: the report, and refusal of bad checkpoints.

The run directory is written through training's own ``RunDir`` (``save_stage`` of every phase,
``config.yaml``, the model card) from an untrained policy: the evaluation's mechanics do not
depend on what the weights learned, and this takes a second instead of a smoke training's
minutes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mtquant.agents.hierarchical.policy import build_policy
from mtquant.artifacts import RunDir
from mtquant.config import RunConfig, compose_config, to_object
from mtquant.config.training import PHASES
from mtquant.errors import CheckpointError
from mtquant.evaluation.evaluation_report import count_trials
from mtquant.experiment import Experiment

ROOT = Path(__file__).resolve().parents[2]
TRAIN_OVERRIDES = ["data=synthetic", "training=smoke", "logger=none"]
BASELINES = {
    "equal_weight", "inverse_vol", "ts_momentum", "macd_trend", "risk_parity", "buy_and_hold",
    "kelly_specialists",
}  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training run dir of the all-8 universe with the five exports of the three phases."""
    path = tmp_path_factory.mktemp("train_run")
    cfg = to_object(compose_config("train", TRAIN_OVERRIDES))
    torch.manual_seed(0)
    policy = build_policy(cfg.agents, cfg.instruments)
    run = RunDir(path)
    for phase in PHASES:
        run.save_stage(cfg, phase, policy)
    run.write_config(cfg)
    run.write_model_card({"name": "test run", "data": {"source": "synthetic"}})
    return path


def evaluate_checkpoint(cfg: RunConfig, out: Path) -> dict[str, Path]:
    """What scripts/evaluate.py runs: load the run's exports, evaluate the split, report."""
    exp = Experiment.from_config(cfg)
    exp.load(cfg.checkpoint)
    return exp.write_report(exp.evaluate(cfg.split), out)


def eval_cfg(run: Path, *extra: str) -> RunConfig:
    return to_object(compose_config("evaluate", [f"checkpoint={run}", "data=synthetic", *extra]))


def run_script(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "evaluate.py"), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )  # fmt: skip


def test_evaluate_refuses_checkpoint_of_other_instruments(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as err:
        evaluate_checkpoint(eval_cfg(run_dir, "instruments=forex"), tmp_path)
    msg = str(err.value)
    assert "meta_controller_phase2.pt" in msg and "does not match" in msg
    assert "symbols: checkpoint has" in msg and "'NAS100'" in msg  # names what differs
    assert "specialists: checkpoint has ['forex', 'commodities', 'equity']" in msg


def test_evaluate_refuses_truncated_export(run_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "run"
    shutil.copytree(run_dir, broken)
    final = broken / "hierarchical_system_final.pt"
    final.write_bytes(final.read_bytes()[: final.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="hierarchical_system_final.pt: cannot be read"):
        evaluate_checkpoint(eval_cfg(broken), tmp_path / "out")


def test_evaluate_refuses_run_without_exports(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no complete phase export"):
        evaluate_checkpoint(eval_cfg(tmp_path), tmp_path / "out")


def test_deflated_sharpe_counts_every_strategy_and_recorded_sweep_trials() -> None:
    assert count_trials({}, 5) == 5
    assert count_trials({"training": {"n_trials": 12}}, 5) == 16
    assert count_trials({"n_trials": "garbage"}, 5) == 5


@pytest.mark.slow
def test_evaluate_script_refuses_mismatch_with_exit_2_and_no_traceback(
    run_dir: Path, tmp_path: Path
) -> None:
    proc = run_script(
        [f"checkpoint={run_dir}", "data=synthetic", "instruments=forex",
         f"hydra.run.dir={tmp_path / 'out'}"], timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: checkpoint") and "symbols: checkpoint has" in last
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_evaluate_script_writes_metrics_report_and_plots(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    proc = run_script([f"checkpoint={run_dir}", "data=synthetic", f"hydra.run.dir={out}"])
    assert proc.returncode == 0, proc.stderr[-3000:]

    def no_nan(token: str) -> float:
        raise AssertionError(f"metrics.json holds {token}")

    metrics = json.loads((out / "metrics.json").read_text(), parse_constant=no_nan)
    strategies = metrics["strategies"]
    assert set(strategies) == {"hierarchical", *BASELINES}
    for name, s in strategies.items():
        assert s["days"] > 100 and s["start"] >= metrics["split"]["test"][:10], name
        assert set(s["costs"]) == {"spread", "commission", "slippage", "swap", "total"}
    system = strategies["hierarchical"]
    assert system["var_backtest"]["days"] == system["days"]
    assert system["n_trials"] == 1 + len(BASELINES)  # the system and every rule baseline
    targets = {t["target"]: t for t in metrics["targets"]}
    # the default correlation rule is "weighted": its exposure is enforced, so it sits in the
    # enforced table, not among the plan targets that can fail
    assert len(targets) == 4
    assert not any("correlation" in t for t in targets)
    enforced = {t["target"]: t for t in metrics["enforced"]}
    assert any(t.startswith("Position-weighted correlation exposure <=") for t in enforced)
    assert all(t["status"] in ("met", "not met") for t in targets.values())  # all measured
    latency = targets["Decision latency < 100 ms"]["measured"]
    assert 0.0 < latency < 10_000.0
    assert len(metrics["comparisons"]) == len(BASELINES)
    assert any("single_agent_ppo: not trained in this run" in line for line in metrics["verdict"])
    assert any("agents.position_mode=mean" in line for line in metrics["verdict"])

    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) >= 4 and {"equity.png", "drawdown.png", "var_vs_pnl.png"} <= set(pngs)
    html = (out / "report.html").read_text()
    assert html.count("<img") == len(pngs) and "data:image/png;base64," in html
    assert "Proxies (not real market data)" in html  # synthetic data is named as such
    assert "did not beat" in html or "beat" in html
