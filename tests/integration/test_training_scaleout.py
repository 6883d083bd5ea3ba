"""Scale-out: TorchRL multi-process collectors, Lightning DDP on CPU, the cuda hardware config."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from training_runs import EXPORTS, SMOKE_CSV, run_train_script

from mtquant.config import compose_config, to_object
from mtquant.errors import ConfigError

SMOKE = [*SMOKE_CSV, "hardware.n_envs=16"]


def _train(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return run_train_script(run_dir, SMOKE, *overrides)


def test_hardware_cuda_composes_with_accelerator_devices_and_env_device() -> None:
    hw = to_object(compose_config("train", ["hardware=cuda"])).hardware
    assert (hw.accelerator, hw.devices, hw.env_device) == ("cuda", 1, "cuda")
    assert hw.n_envs >= 1024 and hw.collector_workers == 0


def test_collector_workers_must_divide_n_envs() -> None:
    with pytest.raises(ConfigError, match="hardware.n_envs"):
        to_object(compose_config("train", ["hardware.n_envs=15", "hardware.collector_workers=2"]))


@pytest.mark.slow
def test_worker_envs_get_the_learners_weights_and_the_curriculum_hooks() -> None:
    from mtquant.agents.environments import make_env
    from mtquant.agents.training.collector_dataset import (
        RolloutMinibatches,
        learner_keys,
        policy_values,
    )
    from mtquant.agents.training.curriculum import WorkerEnvHooks
    from mtquant.agents.training.phase_runner import make_collector
    from mtquant.experiment import Experiment

    cfg = to_object(
        compose_config(
            "train",
            [
                "training=smoke",
                "data=synthetic",
                "hardware.collector_workers=2",
                "hardware.n_envs=8",
            ],
        )
    )
    exp = Experiment.from_config(cfg)
    policy = exp.policy.eval()
    actor = exp.system_actor()
    collector = make_collector(cfg, make_env, exp.features, exp.splits.train, None, actor, 64, 0)
    feed = RolloutMinibatches(
        collector,
        policy_values(policy),
        list(policy.names),
        0.99,
        0.95,
        1,
        32,
        seed=0,
        policy=policy,
        keys=learner_keys(policy),
        actor=actor,
    )
    try:
        for _ in range(2):
            rollout = feed.collect()  # [8 accounts = 2 workers x 4, 8 steps]
            assert rollout.batch_size == torch.Size([8, 8])
            with torch.no_grad():  # the workers acted with the learner's current weights
                again = policy.evaluate_actions(rollout.reshape(-1))["sample_log_prob"]
            torch.testing.assert_close(
                again, rollout["sample_log_prob"].reshape(-1), rtol=1e-5, atol=1e-4
            )
            with torch.no_grad():  # an "update" the next rollout must see
                for p in policy.parameters():
                    p.add_(0.05 * torch.randn_like(p))
        hooks = WorkerEnvHooks(collector)
        hooks.set_cost_multiplier(0.25)
        assert collector.get_distant_attr("env.base_env.cost_multiplier") == [0.25, 0.25]
        hooks.set_start_pool(torch.tensor([hooks.first_row + 50, hooks.first_row + 51]))
        starts = feed.collect()["info", "date_index"][:, 0]
        assert set(starts.tolist()) <= {hooks.first_row + 50, hooks.first_row + 51}
    finally:
        collector.shutdown()


@pytest.mark.slow
def test_smoke_training_with_two_collector_workers_writes_the_exports(tmp_path: Path) -> None:
    proc = _train(tmp_path / "run", "hardware.collector_workers=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert all((tmp_path / "run" / name).is_file() for name in EXPORTS)
    header = (tmp_path / "run" / "logs" / "phase3" / "metrics.csv").read_text().splitlines()[0]
    assert "curriculum/cost_multiplier" in header and "train/approx_kl" in header


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_keeps_the_ranks_in_lockstep(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _train(run, "hardware.strategy=ddp", "hardware.devices=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert all((run / name).is_file() for name in EXPORTS)
    # each rank collects its own episodes; averaged gradients keep the weights identical, so both
    # ranks' validation episodes (same deterministic policy, same days) give the same Sharpe
    finals = [line for line in proc.stdout.splitlines() if line.startswith("val/sharpe=")]
    assert len(finals) == 2 and finals[0] == finals[1], proc.stdout[-2000:]
    assert (run / "train_ddp_process_1.log").is_file()
