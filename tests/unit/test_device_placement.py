"""The env, the risk transform and the policy put their tensors on the configured device.

Two checks that run on a CPU-only machine:

- a rollout of ``make_env`` (env + ``PortfolioRiskTransform``) driven by the hierarchical
  policy runs under ``torch.set_default_device("meta")``: a tensor made on the hot path without
  an explicit device lands on ``meta`` and either fails against the real ones or shows up in
  the rollout, so every leaf of the rollout and every spec must be on the env's device;
- an AST scan of ``src``: no ``.cuda()`` call, and a device literal ("cpu", "cuda", "cuda:N",
  "mps") passed to a call only where running on the CPU is the point (listed in
  :data:`CPU_BY_DESIGN` with the reason). Function parameter defaults and the config schema's
  defaults (``hardware.env_device: "cpu"``) are not calls and stay allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from mtquant.agents.environments import make_env
from mtquant.agents.hierarchical.policy import build_policy
from mtquant.config import RunConfig, compose_config, to_object
from mtquant.features.feature_set import FeatureSet
from mtquant.instruments import InstrumentUniverse
from mtquant.testing.random_walk import random_walk_features

SRC = Path(__file__).resolve().parents[2] / "src" / "mtquant"
DEVICE_NAMES = ("cpu", "cuda", "mps")

# (module under src/mtquant, enclosing function) -> why it runs on the CPU whatever the config
CPU_BY_DESIGN = {
    ("artifacts.py", "load_export"): "exports are read onto the CPU, then loaded into a module",
    ("evaluation/backtest.py", "rollout"): "evaluation runs one account on the CPU, float64",
    ("agents/hierarchical/hierarchical_system.py", "_tape"): "the live decision cycle (B = 1)",
    ("bench/env_bench.py", "__init__"): "the bare-kernel benchmark measures the CPU",
    ("bench/env_bench.py", "measure_env"): "the env benchmark measures the CPU",
    ("risk_management/var.py", "check_covariance"): "a numpy eigen-decomposition",
}


@pytest.fixture(scope="module")
def cfg() -> RunConfig:
    return to_object(compose_config("train", ["hardware.n_envs=4"]))


@pytest.fixture(scope="module")
def features(cfg: RunConfig) -> FeatureSet:
    return random_walk_features(InstrumentUniverse.from_config(cfg.instruments), n_days=300)


def _leaves(td) -> dict:
    return {k: v for k, v in td.items(include_nested=True, leaves_only=True)}


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # cuda on a GPU machine


@pytest.mark.parametrize("name", DEVICES)
def test_rollout_of_env_transform_and_policy_never_uses_the_default_device(cfg, features, name):
    device = torch.device(name)
    env = make_env(cfg, features, (0, 280), batch_size=4, device=device, seed=0)
    policy = build_policy(cfg.agents, cfg.instruments, features=features).to(device)
    actor = policy.with_sizing(cfg.env.sizing_target_vol, cfg.env.max_gross_weight)
    torch.set_default_device("meta")  # the trap: a device-less tensor lands on meta
    try:
        assert torch.zeros(1).device.type == "meta"
        with torch.no_grad():
            td = env.rollout(4, actor, break_when_any_done=False)
    finally:
        torch.set_default_device(None)
    leaves = _leaves(td)
    assert ("next", "risk", "executed_var") in leaves and ("action", "direction") in leaves
    off = sorted(str(k) for k, v in leaves.items() if v.device.type != device.type)
    assert off == [], off
    for spec in (env.full_observation_spec, env.full_action_spec, env.full_reward_spec,
                 env.full_done_spec):  # fmt: skip
        assert all(s.device.type == device.type for _, s in spec.items(True, True)), spec
    tensors = [*policy.parameters(), *policy.buffers()]
    assert tensors and all(t.device.type == device.type for t in tensors)


def _literal_device(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (node.value in DEVICE_NAMES or node.value.startswith("cuda:"))
    )


def device_literal_calls(root: Path = SRC) -> tuple[list[str], set[tuple[str, str]]]:
    """(``.cuda()`` calls, {(module, function)} of calls passing a device literal) under root."""
    cuda, literal = [], set()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if not isinstance(node, ast.Call):
                    continue
                if isinstance(node.func, ast.Attribute) and node.func.attr == "cuda":
                    cuda.append(f"{rel}:{node.lineno}")
                args = [*node.args, *(k.value for k in node.keywords)]
                if any(_literal_device(a) for a in args):
                    literal.add((rel, func.name))
    return cuda, literal


def test_src_never_calls_cuda_nor_hard_codes_a_device_outside_the_cpu_by_design_places():
    cuda, literal = device_literal_calls()
    assert cuda == []
    assert literal - set(CPU_BY_DESIGN) == set()
    assert set(CPU_BY_DESIGN) - literal == set()  # keep the list honest: no stale entries


def test_the_scan_finds_hard_coded_devices_and_ignores_defaults_and_comparisons(tmp_path):
    (tmp_path / "m.py").write_text(
        "def f(x, device='cpu'):\n"
        "    if x.device.type == 'cuda':\n"
        "        return x.to(device)\n"
        "    return x.to('cuda:0') + x.cuda()\n"
        "def g(n):\n"
        "    return torch.zeros(n, device='cpu')\n"
    )
    cuda, literal = device_literal_calls(tmp_path)
    assert cuda == ["m.py:4"] and literal == {("m.py", "f"), ("m.py", "g")}
