"""bench.json: the required keys, completeness check, atomic write and the stdout table."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from mtquant.errors import DataError
from mtquant.risk_management.var_models import VAR_METHODS

BATCH_KEYS = ("1", "64", "1024")
# key -> sub-keys it must hold (None: a single number)
REQUIRED: dict[str, tuple[str, ...] | None] = {
    "decision_latency_ms": ("p50", "p99"),
    "var_us": ("parametric", "historical", "monte_carlo"),
    "var_batch_us": ("1024",),
    "var_batch_compiled_us": ("1024",),  # risk.compile=true (first call, the compile, untimed)
    # the transform per risk.var_method (and the weighted correlation rule), B = 1024
    "var_method_us": (*VAR_METHODS, "parametric+weighted"),
    "var_method_ratio": (*VAR_METHODS, "parametric+weighted"),
    "env_steps_per_s": BATCH_KEYS,
    "bare_kernel_steps_per_s": BATCH_KEYS,
    "pandas_env_steps_per_s": ("1",),
    "env_vs_bare_ratio": BATCH_KEYS,
    "env_vs_pandas_ratio": BATCH_KEYS,
    "ppo_frames_per_s": None,
    "full_schedule_minutes_estimate": None,
    "peak_rss_mb": None,
}
MACHINE_KEYS = ("cpu_model", "cores", "torch", "numpy")


def ratios(num: dict[str, float], den: dict[str, float]) -> dict[str, float]:
    """``num[k] / den[k]`` for the keys both hold."""
    return {k: num[k] / den[k] for k in num if k in den}


def pandas_ratios(env: dict[str, float], pandas_b1: float) -> dict[str, float]:
    """TorchRL env transitions/s at each B over the pandas env's at B = 1."""
    return {k: v / pandas_b1 for k, v in env.items()}


def missing_entries(result: dict[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """Required entries (but ``skip``) absent or not positive finite numbers ("key.sub" names)."""

    def bad(x: Any) -> bool:
        return (
            not isinstance(x, int | float) or isinstance(x, bool) or not math.isfinite(x) or x <= 0
        )

    out = []
    for key, subs in REQUIRED.items():
        if key in skip:
            continue
        value = result.get(key)
        if subs is None:
            if bad(value):
                out.append(key)
            continue
        if not isinstance(value, dict):
            out.append(key)
            continue
        out += [f"{key}.{s}" for s in subs if bad(value.get(s))]
    machine = result.get("machine")
    if not isinstance(machine, dict):
        out.append("machine")
    else:
        out += [f"machine.{k}" for k in MACHINE_KEYS if not machine.get(k)]
    return out


def check_complete(result: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    """Raise :class:`DataError` naming every missing or non-positive entry (but ``skip``)."""
    missing = missing_entries(result, skip)
    if missing:
        raise DataError(f"bench.json: missing or non-positive entries {missing}")


def write_json_atomic(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as JSON next to ``path`` then ``os.replace`` it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def format_table(result: dict[str, Any]) -> str:
    """Readable Markdown table of every figure (pasted into the README)."""
    rows: list[tuple[str, str, str]] = []
    for key, value in result.items():
        if key in ("machine", "settings"):
            continue
        if isinstance(value, dict):
            rows += [
                (key, str(sub), _fmt(v)) for sub, v in value.items() if isinstance(v, int | float)
            ]
        elif isinstance(value, int | float):
            rows.append((key, "", _fmt(value)))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(3, *(len(r[1]) for r in rows))
    w2 = max(5, *(len(r[2]) for r in rows))
    lines = [
        f"| {'metric':<{w0}} | {'key':<{w1}} | {'value':>{w2}} |",
        f"|{'-' * (w0 + 2)}|{'-' * (w1 + 2)}|{'-' * (w2 + 1)}:|",
    ]
    lines += [f"| {a:<{w0}} | {b:<{w1}} | {c:>{w2}} |" for a, b, c in rows]
    m = result.get("machine", {})
    lines.append("")
    lines.append(
        f"machine: {m.get('cpu_model')} ({m.get('cores')} cores, torch threads "
        f"{m.get('torch_threads')}), torch {m.get('torch')}, torchrl {m.get('torchrl')}, "
        f"numpy {m.get('numpy')}, pandas {m.get('pandas')}, load avg {m.get('load_average_1m')}"
    )
    return "\n".join(lines)
