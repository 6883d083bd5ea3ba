"""The report opens in headless Chromium and shows its tables and decoded images.

The report comes from the real evaluation path (strategies run through ``make_env`` with the
risk transform by ``run_strategy``, scored by ``summarise``, written by ``write_report``) on a
seeded random-walk market. A copy of the page gets a tiny script that, on ``load``, writes each
image's ``naturalWidth`` / ``naturalHeight`` into attributes; ``--dump-dom`` then shows whether
Chromium decoded every embedded PNG. Chromium is installed with apt when missing and the tests
run as root; otherwise they are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from mtquant.agents.baselines import EqualWeight, InverseVolatility
from mtquant.agents.hierarchical.policy import build_policy
from mtquant.config import compose_config, to_object
from mtquant.evaluation import VerdictContext, summarise, target_table, write_report
from mtquant.evaluation.backtest import return_correlation, run_strategy
from mtquant.instruments import InstrumentUniverse
from mtquant.testing.random_walk import random_walk_features

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=5000",
]  # fmt: skip
PROBE = (
    "<script>window.addEventListener('load',function(){"
    "for(const i of document.images){i.setAttribute('data-w',i.naturalWidth);"
    "i.setAttribute('data-h',i.naturalHeight);i.setAttribute('data-ok',i.complete);}"
    "document.body.setAttribute('data-loaded','yes');});</script>"
)


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a Chromium binary, installed with apt-get (as root) when missing."""
    found = _find_chromium()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and cannot be (not root or no apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
            subprocess.run(cmd, check=True, capture_output=True, timeout=600, env=env)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"chromium could not be installed with apt-get: {exc}")
    found = _find_chromium()
    if not found:
        pytest.skip("apt-get install chromium succeeded but no chromium binary is on PATH")
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report of the hierarchical policy and two baselines on a random-walk market."""
    out = tmp_path_factory.mktemp("report")
    cfg = to_object(compose_config("train", []))
    universe = InstrumentUniverse.from_config(cfg.instruments)
    features = random_walk_features(universe, n_days=260, seed=3)
    split = (100, 260)
    torch.manual_seed(0)
    policy = build_policy(cfg.agents, cfg.instruments).eval()
    actor = policy.with_sizing(cfg.env.sizing_target_vol, cfg.env.max_gross_weight)
    results = [
        run_strategy(cfg, features, split, actor, "hierarchical", hierarchical=True),
        run_strategy(cfg, features, split, EqualWeight(), "equal_weight"),
        run_strategy(cfg, features, split, InverseVolatility(), "inverse_vol"),
    ]
    sums = {r.name: summarise(r, n_trials=3, n_boot=200) for r in results}
    provenance = [{"symbol": s, "kind": "synthetic", "source": "random walk", "note": ""}
                  for s in universe.symbols]  # fmt: skip
    write_report(
        out, results, sums, provenance, {"test": "rows 100..259"},
        VerdictContext("hierarchical", "the random-walk test"),
        target_rows=target_table(sums["hierarchical"], latency_ms=1.0),
        correlation=return_correlation(features, split),
    )  # fmt: skip
    return out


def dump_dom(chromium: str, page: Path, profile: Path) -> str:
    proc = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_report_shows_tables_and_decoded_images_in_chromium(
    chromium: str, report: Path, tmp_path: Path
) -> None:
    html = (report / "report.html").read_text()
    probed = tmp_path / "report_probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = dump_dom(chromium, probed, tmp_path / "profile")

    assert 'data-loaded="yes"' in dom  # the page loaded and the probe ran
    metrics = json.loads((report / "metrics.json").read_text())
    for name in metrics["strategies"]:  # the metrics table has a row per strategy
        assert re.search(rf"<tr><td>{name}</td>", dom), name
    assert dom.count("<table") >= 5  # verdict-free tables: provenance, split, metrics, ...
    for target in metrics["targets"]:
        assert target["target"].replace(">", "&gt;").replace("<", "&lt;") in dom

    imgs = re.findall(r"<img [^>]*>", dom)
    pngs = list(report.glob("*.png"))
    assert len(imgs) == len(pngs) >= 4
    for tag in imgs:
        size = re.search(r'data-w="(\d+)" data-h="(\d+)" data-ok="(\w+)"', tag)
        assert size is not None, tag[:120]
        w, h, ok = int(size.group(1)), int(size.group(2)), size.group(3)
        assert ok == "true" and w > 200 and h > 200, tag[:120]
