"""The run directory: its layout, what each file holds, and how it is written and read back.

::

    <run>/config.yaml                        the resolved config (written before training)
    <run>/model_card.json, model_card.md     instruments, data, splits, metrics, versions, hash
    <run>/<specialist>_specialist_phase1.pt  one export per specialist (phase 1)
    <run>/meta_controller_phase2.pt          the meta-controller (phase 2)
    <run>/hierarchical_system_final.pt       the whole hierarchical policy (phase 3)
    <run>/single_agent_ppo.pt                the flat single-agent PPO baseline
    <run>/checkpoints/<stage>/last.ckpt      Lightning checkpoint of the stage (resume)
    <run>/logs/<stage>/                      CSV logs (``logger=csv``)

An export is ``{"format", "state_dict", "metadata"}`` saved with ``torch.save`` so that
``torch.load(path, weights_only=True)`` reads it. The metadata names the component, stage,
instruments, specialists, network dimensions and config hash; :func:`load_export` compares it
with what the caller expects and raises :class:`CheckpointError` naming every difference.
Every file is written atomically (a temp file in the same folder, then ``os.replace``).

Training writes through :class:`RunDir` and evaluation reads through it; neither imports the
other. The flat baseline's network is rebuilt from its recorded ``dims`` by
:func:`~mtquant.agents.baselines.build_flat_policy`, the function training built it with.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import nn

from mtquant.agents.baselines import FlatPPOPolicy, build_flat_policy
from mtquant.config.store import RunConfig
from mtquant.config.training import PHASES, SINGLE_AGENT
from mtquant.errors import CheckpointError

EXPORT_FORMAT = "mtquant-export/1"
# metadata fields that must match for weights to fit the caller's model
MATCHED_FIELDS = ("component", "symbols", "specialists", "dims")
PACKAGES = ("torch", "torchrl", "tensordict", "lightning", "hydra-core", "numpy", "pandas",
            "mtquant")  # fmt: skip
RUN_SPECIFIC = ("output_dir", "ckpt_path", "checkpoint")  # left out of the config hash
SINGLE_AGENT_COMPONENT = "single_agent_ppo"  # the flat baseline's component and report name
SINGLE_AGENT_EXPORT = f"{SINGLE_AGENT_COMPONENT}.pt"
CONFIG_FILE = "config.yaml"
MODEL_CARD = "model_card.json"
LAST_CKPT = "last.ckpt"


# ---------------------------------------------------------------------------- atomic files
def _atomic_write(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file and ``os.replace`` (never a half-written file)."""
    _atomic_write(Path(path), lambda fh: fh.write(text), "w")


def config_hash(resolved_yaml: str) -> str:
    """Short SHA-256 of the resolved config text (identifies the run's settings)."""
    return hashlib.sha256(resolved_yaml.encode()).hexdigest()[:16]


def resolved_yaml(cfg: RunConfig) -> str:
    """The run's full config as YAML (what ``config.yaml`` holds)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def run_hash(cfg: RunConfig) -> str:
    """Hash of the settings that define a run (run directory and resume paths left out)."""
    data = {k: v for k, v in asdict(cfg).items() if k not in RUN_SPECIFIC}
    return config_hash(OmegaConf.to_yaml(OmegaConf.create(data)))


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a model depends on."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# ---------------------------------------------------------------------------- exports
def save_export(
    path: str | Path, state_dict: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]
) -> None:
    """Save a component's weights and metadata atomically, loadable with ``weights_only=True``."""
    payload = {
        "format": EXPORT_FORMAT,
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "metadata": dict(metadata),
    }
    _atomic_write(Path(path), lambda fh: torch.save(payload, fh), "wb")


def load_export(
    path: str | Path, expected: Mapping[str, Any] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load ``(state_dict, metadata)`` from an export, checking it against ``expected``.

    Raises :class:`CheckpointError` for a missing, corrupt or truncated file, and for a
    metadata mismatch in any of ``component``, ``symbols``, ``specialists`` and ``dims``
    (the message lists each field with the checkpoint's and the expected value).
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p}: file not found")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors of a truncated or foreign file
        raise CheckpointError(
            f"checkpoint {p}: cannot be read ({type(exc).__name__}: {exc}); "
            "the file is corrupt, truncated or not an mtquant export"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        raise CheckpointError(
            f"checkpoint {p}: not an mtquant export (format {EXPORT_FORMAT!r} expected)"
        )
    meta = payload["metadata"]
    if expected:
        diffs = [
            f"{key}: checkpoint has {meta.get(key)!r}, expected {expected[key]!r}"
            for key in MATCHED_FIELDS
            if key in expected and meta.get(key) != expected[key]
        ]
        if diffs:
            raise CheckpointError(f"checkpoint {p} does not match the config: " + "; ".join(diffs))
    return payload["state_dict"], meta


def export_files(stage: str, specialists: list[str]) -> list[str]:
    """File names a completed ``stage`` leaves in the run dir (``specialists`` in axis order)."""
    if stage == "phase1":
        return [f"{n}_specialist_phase1.pt" for n in specialists]
    if stage == "phase2":
        return ["meta_controller_phase2.pt"]
    if stage == "phase3":
        return ["hierarchical_system_final.pt"]
    if stage == SINGLE_AGENT:
        return [SINGLE_AGENT_EXPORT]
    raise CheckpointError(f"unknown training stage {stage!r}; known: {[*PHASES, SINGLE_AGENT]}")


def _hierarchy_parts(policy: Any, stage: str) -> dict[str, tuple[str, nn.Module]]:
    """file name -> (component, module) of a hierarchical stage's exports."""
    names = list(policy.names)
    if stage == "phase1":
        files = export_files(stage, names)
        return {f: (n, policy.specialists[n]) for n, f in zip(names, files, strict=True)}
    if stage == "phase2":
        return {"meta_controller_phase2.pt": ("meta_controller", policy.meta)}
    return {"hierarchical_system_final.pt": ("hierarchical_system", policy)}


def hierarchy_metadata(cfg: RunConfig, policy: Any, stage: str, component: str) -> dict[str, Any]:
    """Metadata stored with (and checked against) an export of the hierarchical ``policy``.

    ``dims`` are the network's own widths (what the weights' shapes follow), so a config that
    builds a different network is refused before any tensor is copied.
    """
    names = list(policy.names)
    if component in names:
        sp = policy.specialists[component]
        return {
            "component": f"{component}_specialist",
            "phase": stage,
            "symbols": list(sp.instruments),
            "specialists": [component],
            "dims": {
                "market_features_dim": sp.market_features_dim,
                "observation_dim": sp.observation_dim,
                "hidden_dim": sp.hidden_dim,
                "shared_trunk": sp.shared_trunk,
            },
            "config_hash": run_hash(cfg),
        }
    meta = policy.meta
    return {
        "component": component,
        "phase": stage,
        "symbols": list(policy.symbols),
        "specialists": names,
        "dims": {
            "state_dim": meta.state_dim,
            "hidden_dim": meta.hidden_dim,
            "hidden_dim_2": meta.hidden_dim_2,
            **{
                f"{n}.market_features_dim": policy.specialists[n].market_features_dim for n in names
            },
            # shared and separate head trunks have the same state-dict keys: record which one
            **{f"{n}.shared_trunk": policy.specialists[n].shared_trunk for n in names},
        },
        "config_hash": run_hash(cfg),
    }


def flat_metadata(cfg: RunConfig, net: FlatPPOPolicy) -> dict[str, Any]:
    """Metadata of ``single_agent_ppo.pt``: ``dims`` are what :func:`build_flat_policy` reads."""
    return {
        "component": SINGLE_AGENT_COMPONENT,
        "phase": SINGLE_AGENT,
        "symbols": list(net.symbols),
        "specialists": list(net.names),
        "dims": dict(net.dims),
        "config_hash": run_hash(cfg),
    }


# ---------------------------------------------------------------------------- the run dir
class RunDir:
    """A training run's directory (module doc): where each file lives, writing and reading."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def checkpoint_dir(self, stage: str) -> Path:
        """``<run>/checkpoints/<stage>/``: where Lightning writes the stage's checkpoints."""
        return self.path / "checkpoints" / stage

    def last_ckpt(self, stage: str) -> Path:
        return self.checkpoint_dir(stage) / LAST_CKPT

    def is_complete(self, stage: str, specialists: list[str]) -> bool:
        """True when every export of ``stage`` exists (the stage is skipped on a re-run)."""
        return all((self.path / f).is_file() for f in export_files(stage, specialists))

    # -------------------------------------------------------------------- config and card
    def write_config(self, cfg: RunConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path / CONFIG_FILE, resolved_yaml(cfg))

    def write_model_card(self, card: Mapping[str, Any]) -> None:
        """Write ``model_card.json`` and a readable ``model_card.md`` (atomically)."""
        text = json.dumps(card, indent=2, default=str) + "\n"
        write_text_atomic(self.path / MODEL_CARD, text)
        lines = [f"# Model card: {card.get('name', 'mtquant hierarchical system')}", ""]
        for section, value in card.items():
            lines.append(f"## {section}")
            if isinstance(value, dict):
                lines += [f"- **{k}**: {v}" for k, v in value.items()]
            elif isinstance(value, list):
                lines += [f"- {v}" for v in value]
            else:
                lines.append(str(value))
            lines.append("")
        write_text_atomic(self.path / "model_card.md", "\n".join(lines))

    def read_model_card(self) -> dict[str, Any]:
        """The run's ``model_card.json`` (empty dict when absent or unreadable)."""
        try:
            card = json.loads((self.path / MODEL_CARD).read_text())
        except (OSError, ValueError):
            return {}
        return card if isinstance(card, dict) else {}

    # -------------------------------------------------------------------- exports
    def save_stage(self, cfg: RunConfig, stage: str, network: Any) -> None:
        """Write ``stage``'s exports of ``network`` (the hierarchical policy, or the flat net)."""
        if stage == SINGLE_AGENT:
            save_export(self.path / SINGLE_AGENT_EXPORT, network.state_dict(),
                        flat_metadata(cfg, network))  # fmt: skip
            return
        for fname, (component, module) in _hierarchy_parts(network, stage).items():
            meta = hierarchy_metadata(cfg, network, stage, component)
            save_export(self.path / fname, module.state_dict(), meta)

    def load_stage(self, cfg: RunConfig, stage: str, network: Any) -> None:
        """Load a completed stage's weights into ``network`` (CheckpointError on any mismatch:
        metadata that differs, or tensors that do not fit the network built from the config)."""
        if stage == SINGLE_AGENT:
            parts = {SINGLE_AGENT_EXPORT: (flat_metadata(cfg, network), network)}
        else:
            parts = {
                f: (hierarchy_metadata(cfg, network, stage, component), module)
                for f, (component, module) in _hierarchy_parts(network, stage).items()
            }
        for fname, (expected, module) in parts.items():
            state, _ = load_export(self.path / fname, expected)
            try:
                module.load_state_dict(state)
            except RuntimeError as exc:  # missing/unexpected keys, shape mismatch
                raise CheckpointError(
                    f"checkpoint {self.path / fname}: weights do not fit the network built "
                    f"from the config: {exc}"
                ) from None

    def load_hierarchy(self, cfg: RunConfig, policy: Any) -> list[str]:
        """Load every completed phase's exports into ``policy``; return the phases loaded.

        The allocation is fixed (phase-1 behaviour) unless phase 2 or 3 was loaded.
        """
        if not self.path.is_dir():
            raise CheckpointError(f"checkpoint {self.path}: not a directory (a training run dir)")
        names = list(policy.names)
        loaded = []
        for phase in PHASES:
            if self.is_complete(phase, names):
                self.load_stage(cfg, phase, policy)
                loaded.append(phase)
        if not loaded:
            wanted = [f for p in PHASES for f in export_files(p, names)]
            raise CheckpointError(
                f"checkpoint {self.path}: no complete phase export found ({wanted})"
            )
        policy.fixed_allocation = "phase2" not in loaded and "phase3" not in loaded
        return loaded

    def load_flat(self, cfg: RunConfig, specialist_index: torch.Tensor) -> FlatPPOPolicy | None:
        """The run's flat single-agent baseline rebuilt from its recorded dims (None if absent).

        ``symbols`` must match the config's; the network comes from the export's ``dims`` by
        :func:`build_flat_policy`, the function that built it for training.
        """
        path = self.path / SINGLE_AGENT_EXPORT
        if not path.is_file():
            return None
        symbols = cfg.instruments.active_symbols()
        state, meta = load_export(path, {"component": SINGLE_AGENT_COMPONENT, "symbols": symbols})
        net = build_flat_policy(meta["dims"], symbols, specialist_index, cfg.agents.position_mode)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(
                f"checkpoint {path}: weights do not fit the flat PPO: {exc}"
            ) from None
        return net.eval()
