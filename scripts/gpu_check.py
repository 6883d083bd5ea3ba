"""Check MTQuant on a CUDA GPU (under 8 minutes on one GPU) and write the figures as JSON.

    python scripts/gpu_check.py                                # hardware=cuda, full sizes
    python scripts/gpu_check.py --out outputs/gpu_check.json
    python scripts/gpu_check.py --device cpu --small           # the same code on the CPU, tiny

Runs a smoke training with ``hardware=cuda``, the env + risk transform and the transform alone
at B = 4096 and 16384 accounts, and end-to-end PPO frames/s (:mod:`mtquant.bench.device_check`),
then writes a JSON with the figures, the device name, the torch version and the date. Without a
CUDA device it refuses: one ``error:`` line on stderr, exit code 2. A part that fails is named
under ``errors`` in the JSON and on stderr (exit code 1); the other parts still run.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from mtquant.config import register_configs  # noqa: E402
from mtquant.errors import MTQuantError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--small", action="store_true", help="tiny sizes (tests, CPU)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path to write")
    args = parser.parse_args(argv)
    from mtquant.bench.device_check import resolve_device, run_device_check
    from mtquant.bench.report import write_json_atomic

    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out = args.out or Path("outputs") / "gpu_check" / stamp / "gpu_check.json"
    try:
        resolve_device(args.device)  # refuse before loading any data
        register_configs()
        result = run_device_check(args.device, args.small)
        path = write_json_atomic(out, result)
    except MTQuantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: result[k] for k in ("device_name", "torch", "date")}))
    for key in ("env_steps_per_s", "transform_books_per_s"):
        print(key, {b: round(v) for b, v in (result[key] or {}).items()})
    for key, figure in (("ppo", "frames_per_s"), ("smoke_training", "seconds")):
        print(key, figure, (result[key] or {}).get(figure))
    for part, error in result["errors"].items():
        print(f"error: gpu_check part {part} failed: {error}", file=sys.stderr)
    print(f"gpu_check.json: {path}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
