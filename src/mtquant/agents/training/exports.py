"""Exported artefacts of a training run: component state dicts, resolved config, model card.

An export is a plain dict ``{"state_dict": {name: tensor}, "metadata": {...}}`` saved with
``torch.save`` so that ``torch.load(path, weights_only=True)`` reads it. The metadata names the
instruments, specialists, network dimensions, config hash and phase; :func:`load_export`
compares them with what the caller expects and raises :class:`CheckpointError` naming every
difference. Files are written atomically: a temp file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import torch

from mtquant.errors import CheckpointError

EXPORT_FORMAT = "mtquant-export/1"
# metadata fields that must match for weights to fit the caller's model
MATCHED_FIELDS = ("component", "symbols", "specialists", "dims")
PACKAGES = (
    "torch",
    "torchrl",
    "tensordict",
    "lightning",
    "hydra-core",
    "numpy",
    "pandas",
    "mtquant",
)

PHASE_EXPORTS = {
    "phase1": "{name}_specialist_phase1.pt",
    "phase2": "meta_controller_phase2.pt",
    "phase3": "hierarchical_system_final.pt",
}


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


def save_export(
    path: str | Path, state_dict: dict[str, torch.Tensor], metadata: dict[str, Any]
) -> None:
    """Save a component's weights and metadata atomically, loadable with ``weights_only=True``."""
    payload = {
        "format": EXPORT_FORMAT,
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "metadata": dict(metadata),
    }
    _atomic_write(Path(path), lambda fh: torch.save(payload, fh), "wb")


def load_export(
    path: str | Path, expected: dict[str, Any] | None = None
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


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a model depends on."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_model_card(run_dir: str | Path, card: dict[str, Any]) -> None:
    """Write ``model_card.json`` and a readable ``model_card.md`` (atomically)."""
    run = Path(run_dir)
    write_text_atomic(run / "model_card.json", json.dumps(card, indent=2, default=str) + "\n")
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
    write_text_atomic(run / "model_card.md", "\n".join(lines))
