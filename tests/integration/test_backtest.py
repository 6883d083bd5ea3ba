"""scripts/backtest.py end to end on a tiny walk-forward: one fold, two seeds, three cost levels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "data=synthetic",
    "data.walk_forward.initial_train_years=9",  # synthetic 2008..2017-12: one fold, 2017 H1
    "extras.seeds=[0,1]",
    "extras.cost_multipliers=[0.5,1.0,2.0]",
    "training.phase1.timesteps=512",
    "training.phase2.timesteps=512",
    "training.phase3.timesteps=512",
    "training.single_agent.timesteps=512",
    "training.progress_bar=false",
]


@pytest.mark.slow
def test_backtest_script_trains_each_seed_and_reports_every_run(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "backtest.py"), *TINY, f"hydra.run.dir={out}"],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for seed in (0, 1):  # each seed trained its own system and single agent on the fold
        assert (out / "fold_00" / f"seed_{seed}" / "hierarchical_system_final.pt").is_file()
        assert (out / "fold_00" / f"seed_{seed}" / "single_agent_ppo.pt").is_file()

    def no_nan(token: str) -> float:
        raise AssertionError(f"metrics.json holds {token}")

    metrics = json.loads((out / "metrics.json").read_text(), parse_constant=no_nan)
    assert metrics["split"]["fold 0"].endswith("test 2017-01-02..2017-06-30 (130 days)")
    tables = metrics["extra_tables"]
    runs = tables["Runs"]
    system_runs = [r for r in runs if r["strategy"] == "hierarchical"]
    assert len(system_runs) == 2 * 3  # seeds x costs, none dropped
    assert len([r for r in runs if r["strategy"] == "single_agent_ppo"]) == 2 * 3
    assert len(runs) == 6 + 6 + 7 * 3  # + single agent + 7 baselines x costs
    agg = {(r["strategy"], r["cost_x"]): r for r in tables["Mean ± std across folds and seeds"]}
    assert agg[("hierarchical", 1.0)]["runs"] == 2
    # costs scale with the multiplier at test time
    ew = [agg[("equal_weight", c)]["costs_fraction_mean"] for c in (0.5, 1.0, 2.0)]
    assert 0 < ew[0] < ew[1] < ew[2]
    assert [r["seed"] for r in tables["System by seed (folds stitched, cost 1x)"]] == [0, 1]
    assert set(metrics["strategies"]) == {
        "hierarchical", "equal_weight", "inverse_vol", "ts_momentum", "macd_trend", "risk_parity",
        "buy_and_hold", "kelly_specialists", "single_agent_ppo",
    }  # fmt: skip
    for name, summary in metrics["strategies"].items():  # the VaR backtest of every strategy
        vb = summary["var_backtest"]
        assert {"breach_rate", "kupiec_p", "conditional_coverage_p"} <= set(vb), name
    assert len(list(out.glob("*.png"))) >= 4 and (out / "report.html").is_file()
