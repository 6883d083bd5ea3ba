"""``run_training(cfg)``: data -> features -> policy -> the stages in order -> exports.

The stages are the hierarchy's three phases and, after them, the flat single-agent PPO baseline
(``single_agent``: its own network, same env, PPO core and feed; exports ``single_agent_ppo.pt``).

Re-running in the same run directory continues the run: a phase whose export exists is
skipped (its weights are loaded from the export, checked against the config), an interrupted
phase resumes from ``checkpoints/<phase>/last.ckpt``. After each phase the run directory holds
the phase's exports, the resolved ``config.yaml`` and the model card.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from mtquant.agents.training.exports import (
    config_hash,
    load_export,
    package_versions,
    save_export,
    write_model_card,
    write_text_atomic,
)
from mtquant.agents.training.phase_runner import PhaseInputs, fit_phase, phase_seed
from mtquant.agents.training.single_agent import (
    SINGLE_AGENT_COMPONENT,
    SINGLE_AGENT_EXPORT,
    single_agent_metadata,
    single_agent_view,
)
from mtquant.config.store import RunConfig, compose_config, to_object
from mtquant.config.training import PHASES, SINGLE_AGENT, STAGES

RUN_SPECIFIC = ("output_dir", "ckpt_path", "checkpoint")  # left out of the config hash


def resolved_yaml(cfg: RunConfig) -> str:
    """The run's full config as YAML (what ``config.yaml`` holds)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def run_hash(cfg: RunConfig) -> str:
    data = {k: v for k, v in asdict(cfg).items() if k not in RUN_SPECIFIC}
    return config_hash(OmegaConf.to_yaml(OmegaConf.create(data)))


def export_files(phase: str, names: list[str]) -> list[str]:
    """File names a completed ``phase`` (or the ``single_agent`` stage) leaves in the run dir."""
    if phase == "phase1":
        return [f"{n}_specialist_phase1.pt" for n in names]
    if phase == SINGLE_AGENT:
        return [SINGLE_AGENT_EXPORT]
    return ["meta_controller_phase2.pt" if phase == "phase2" else "hierarchical_system_final.pt"]


def export_metadata(cfg: RunConfig, policy: Any, phase: str, component: str) -> dict[str, Any]:
    """Metadata stored with (and checked against) an export of ``component``."""
    if component == SINGLE_AGENT_COMPONENT:
        return single_agent_metadata(cfg, policy.dims, run_hash(cfg))
    names = list(policy.names)
    if component in names:
        spec = cfg.agents.specialists[component]
        return {
            "component": f"{component}_specialist",
            "phase": phase,
            "symbols": list(cfg.instruments.specialists[component]),
            "specialists": [component],
            "dims": {
                "market_features_dim": spec.market_features_dim,
                "observation_dim": spec.observation_dim,
                "hidden_dim": spec.hidden_dim,
                "shared_trunk": spec.shared_trunk,
            },
            "config_hash": run_hash(cfg),
        }
    meta = cfg.agents.meta_controller
    return {
        "component": component,
        "phase": phase,
        "symbols": list(policy.symbols),
        "specialists": names,
        "dims": {
            "state_dim": meta.state_dim,
            "hidden_dim": meta.hidden_dim,
            "hidden_dim_2": meta.hidden_dim_2,
            **{
                f"{n}.market_features_dim": cfg.agents.specialists[n].market_features_dim
                for n in names
            },
            # shared and separate head trunks have the same state-dict keys: record which one
            **{f"{n}.shared_trunk": cfg.agents.specialists[n].shared_trunk for n in names},
        },
        "config_hash": run_hash(cfg),
    }


def _parts(policy: Any, phase: str) -> dict[str, tuple[str, torch.nn.Module]]:
    """file name -> (component, module) of a phase's exports."""
    if phase == SINGLE_AGENT:
        return {SINGLE_AGENT_EXPORT: (SINGLE_AGENT_COMPONENT, policy.net)}
    if phase == "phase1":
        return {
            f: (n, policy.specialists[n])
            for n, f in zip(policy.names, export_files(phase, policy.names), strict=False)
        }
    if phase == "phase2":
        return {"meta_controller_phase2.pt": ("meta_controller", policy.meta)}
    return {"hierarchical_system_final.pt": ("hierarchical_system", policy)}


def write_exports(cfg: RunConfig, run_dir: Path, policy: Any, phase: str) -> None:
    for fname, (component, module) in _parts(policy, phase).items():
        save_export(
            run_dir / fname, module.state_dict(), export_metadata(cfg, policy, phase, component)
        )


def load_exports(cfg: RunConfig, run_dir: Path, policy: Any, phase: str) -> None:
    """Load a completed phase's weights into ``policy`` (CheckpointError on any mismatch)."""
    for fname, (component, module) in _parts(policy, phase).items():
        state, _ = load_export(run_dir / fname, export_metadata(cfg, policy, phase, component))
        module.load_state_dict(state)


def model_card(
    cfg: RunConfig, ctx: dict[str, Any], metrics: dict[str, dict[str, float]]
) -> dict[str, Any]:
    data, splits = ctx["data"], ctx["splits"]
    return {
        "name": f"mtquant hierarchical system ({cfg.training.name} schedule)",
        "created": datetime.now().isoformat(timespec="seconds"),
        "instruments": {
            s: f"{p.kind}: {p.source} {p.note}".strip() for s, p in data.provenance.items()
        },
        "specialists": cfg.instruments.active_groups(),
        "data": {
            "source": cfg.data.source,
            "range": f"{data.dates[0].date()}..{data.dates[-1].date()}",
            **{f"split.{k}": v for k, v in splits.describe().items()},
        },
        "metrics": {f"{p}/{k}": v for p, m in metrics.items() for k, v in m.items()},
        "training": {
            "phases": list(cfg.training.phases),
            "seed": cfg.seed,
            "risk.max_portfolio_var": cfg.risk.max_portfolio_var,
        },
        "versions": package_versions(),
        "config_hash": run_hash(cfg),
    }


def prepare(cfg: RunConfig) -> dict[str, Any]:
    """Data, splits, features and a fresh policy for ``cfg`` (training never reads the test split)."""
    from mtquant.agents.environments import make_env
    from mtquant.agents.hierarchical.policy import build_policy
    from mtquant.data import load_market_data, make_splits
    from mtquant.features import compute_features
    from mtquant.instruments import InstrumentUniverse

    data = load_market_data(cfg)
    splits = make_splits(data.dates, cfg.data.split)
    universe = InstrumentUniverse.from_config(cfg.instruments)
    features = compute_features(
        data, universe, train_end=splits.train[1], var_window=cfg.risk.var_window
    )
    policy = build_policy(cfg.agents, cfg.instruments)
    return {
        "data": data,
        "splits": splits,
        "features": features,
        "policy": policy,
        "make_env": make_env,
    }


def stage_policy(cfg: RunConfig, ctx: dict[str, Any], stage: str) -> Any:
    """The network a stage trains: the hierarchy's policy, or the single agent (built once)."""
    if stage != SINGLE_AGENT:
        return ctx["policy"]
    if "single_agent" not in ctx:
        ctx["single_agent"] = single_agent_view(
            cfg, ctx["features"], phase_seed(cfg.seed, SINGLE_AGENT)
        )
    return ctx["single_agent"]


def run_training(cfg: RunConfig | DictConfig, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Run the stages of ``cfg.training.phases`` in order; return ``val/sharpe`` and per-stage metrics.

    ``val/sharpe`` is that of the last hierarchical phase trained in this call (the single agent's
    only when no phase was trained), so sweeps optimise the hierarchy.
    """
    cfg = cfg if isinstance(cfg, RunConfig) else to_object(cfg)
    run = Path(run_dir or cfg.output_dir or f"outputs/train/{datetime.now():%Y-%m-%d_%H-%M-%S}")
    run.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.hardware.torch_threads)
    write_text_atomic(run / "config.yaml", resolved_yaml(cfg))
    ctx = prepare(cfg)
    names = list(ctx["policy"].names)
    inputs = PhaseInputs(
        cfg,
        run,
        ctx["policy"],
        ctx["features"],
        ctx["splits"].train,
        ctx["splits"].val,
        ctx["make_env"],
    )
    metrics: dict[str, dict[str, float]] = {}
    for phase in STAGES:
        done = all((run / f).is_file() for f in export_files(phase, names))
        if not done and phase not in cfg.training.phases:
            continue
        policy = stage_policy(cfg, ctx, phase)
        if done:
            load_exports(cfg, run, policy, phase)
            continue
        metrics[phase] = fit_phase(replace(inputs, policy=policy), phase)
        if getattr(rank_zero_only, "rank", 0) == 0:  # DDP: ranks hold the same weights; one writes
            write_exports(cfg, run, policy, phase)
            write_model_card(run, model_card(cfg, ctx, metrics))
    ranked = [m for p, m in metrics.items() if p in PHASES] or list(metrics.values())
    sharpe = ranked[-1].get("val/sharpe", float("nan")) if ranked else float("nan")
    return {"val/sharpe": sharpe, "phases": metrics, "run_dir": str(run)}


def run_phase_cli(phase: str, overrides: list[str]) -> float:
    """``python -m mtquant.agents.training.<phase module> [overrides]``: that phase only."""
    import sys

    from mtquant.errors import MTQuantError

    try:
        cfg = to_object(compose_config("train", [*overrides, f"training.phases=[{phase}]"]))
        return float(run_training(cfg)["val/sharpe"])
    except MTQuantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
