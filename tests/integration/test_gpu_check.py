"""scripts/gpu_check.py: refuses without CUDA; ``--device cpu --small`` runs every part."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_refuses_without_a_cuda_device(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _script().main(["--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: gpu_check: no CUDA device") and "--device cpu" in err[-1]
    assert not (tmp_path / "x.json").exists()


def test_gpu_check_small_on_cpu_writes_every_figure(tmp_path):
    out = tmp_path / "gpu_check.json"
    assert _script().main(["--device", "cpu", "--small", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["errors"] == {}
    assert data["device"] == "cpu" and data["small"] is True
    assert data["torch"] == torch.__version__ and data["date"][:4].isdigit()
    assert data["hardware"]["env_device"] == "cpu"
    for key in ("env_steps_per_s", "transform_books_per_s"):
        assert set(data[key]) == {"8", "16"}
        assert all(math.isfinite(v) and v > 0 for v in data[key].values())
    smoke = data["smoke_training"]
    assert smoke["frames"] > 0 and smoke["peak_device_memory_mb"] is None
    assert set(smoke["val_sharpe"]) == {"phase1", "phase2", "phase3", "single_agent"}
    assert "hierarchical_system_final.pt" in smoke["exports"]
    assert smoke["policy_device_after_fit"] == ["cpu"] and smoke["evaluation_after_fit"]["days"] > 0
    assert data["ppo"]["frames_per_s"] > 0 and len(data["ppo"]["samples"]) == 1


def test_gpu_check_refuses_an_unknown_device(capsys):
    assert _script().main(["--device", "mps"]) == 2
    assert "expected cuda, cuda:N or cpu" in capsys.readouterr().err
