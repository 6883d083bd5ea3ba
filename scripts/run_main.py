"""`make run`: 3-phase training on the default packaged data, then the backtest report.

Runs ``scripts/train.py`` (training=default, data=packaged) into ``outputs/main/<stamp>/train`` and
``scripts/evaluate.py`` on the held-out test split into ``outputs/main/<stamp>/evaluate``, then
prints where the report is. Extra arguments are passed to both as Hydra overrides, e.g.
``make run ARGS="training=smoke"`` is ``python scripts/run_main.py training=smoke``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    base = ROOT / "outputs" / "main" / stamp
    train_dir, eval_dir = base / "train", base / "evaluate"
    missing = [s for s in ("train.py", "evaluate.py") if not (ROOT / "scripts" / s).is_file()]
    if missing:
        print(f"make run: scripts {missing} are not built yet; nothing to run", file=sys.stderr)
        return 1
    steps = [
        ("training", ["scripts/train.py", f"hydra.run.dir={train_dir}", *argv]),
        (
            "evaluation",
            ["scripts/evaluate.py", f"checkpoint={train_dir}", f"hydra.run.dir={eval_dir}", *argv],
        ),
    ]
    for name, args in steps:
        print(f"== make run: {name} ({' '.join(args)})", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, *args], cwd=ROOT)
        print(f"== make run: {name} finished in {time.monotonic() - started:.0f} s (exit {code})")
        if code != 0:
            return code
    print(f"\nReport: {eval_dir / 'report.html'}\nMetrics: {eval_dir / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
