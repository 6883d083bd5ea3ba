"""`make test`: the quality gates and the test suite, in the order a reviewer reads them.

1. ``ruff check`` and ``ruff format --check`` on src, scripts and tests;
2. ``mypy`` on ``src/mtquant`` (strict on risk_management and evaluation, see pyproject);
3. the docs site (``make docs``: Sphinx, warnings are errors);
4. ``pytest`` with branch coverage of ``src/mtquant`` and ``--cov-fail-under``; with ``CI=true``
   the ``slow`` and ``perf`` tests run too.
Pytest's exit code 5 (no tests collected) counts as a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COVERAGE_FLOOR = int(os.environ.get("MTQUANT_COV_FAIL_UNDER", "85"))


def run(step: str, cmd: list[str]) -> int:
    print(f"\n=== {step}: {' '.join(cmd)}", flush=True)
    return subprocess.call(cmd, cwd=ROOT)


def main() -> int:
    lint_paths = ["src", "scripts", "tests"]
    gates = [
        ("lint", [str(BIN / "ruff"), "check", *lint_paths]),
        ("format", [str(BIN / "ruff"), "format", "--check", *lint_paths]),
        ("types", [str(BIN / "mypy"), "src/mtquant"]),
        (
            "docs",
            [
                str(BIN / "sphinx-build"),
                "-W",
                "--keep-going",
                "-q",
                "-b",
                "html",
                "docs",
                "docs/_build/html",
            ],
        ),
    ]
    for step, cmd in gates:
        if run(step, cmd) != 0:
            print(f"make test: {step} failed", file=sys.stderr)
            return 1
    marker = [] if os.environ.get("CI") == "true" else ["-m", "not slow and not perf"]
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *marker,
        "--cov=mtquant",
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        f"--cov-fail-under={COVERAGE_FLOOR}",
    ]
    code = run("tests", cmd)
    if code == 5:
        print("make test: pytest collected no tests; that is a failure", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
