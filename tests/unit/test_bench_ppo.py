"""The PPO figure of the bench: per-phase medians of repeated fits, and the issue's ratios."""

from __future__ import annotations

import pytest

from mtquant.bench import training_bench as tb
from mtquant.bench.settings import BenchSettings, bench_settings
from mtquant.errors import ConfigError


def test_issue_ratios_compare_with_5708_before_and_the_15000_goal():
    r = tb.issue_ratios(11416.0)
    assert r["ratio_to_before"] == pytest.approx(2.0) and r["ratio_to_goal"] == pytest.approx(
        11416.0 / 15000.0
    )
    assert r["goal_met"] is False and tb.issue_ratios(15000.0)["goal_met"] is True


def test_measure_ppo_takes_the_median_of_each_phase_and_keeps_the_samples(monkeypatch):
    runs = {"phase1": iter([3000.0, 9000.0, 5000.0]), "phase3": iter([4000.0, 4000.0, 1000.0])}
    monkeypatch.setattr(tb, "phase_rate", lambda ctx, phase, s: next(runs[phase]))
    s = BenchSettings(ppo_phases=["phase1", "phase3"], ppo_repeats=3)
    out = tb.measure_ppo(None, s)  # type: ignore[arg-type]
    assert out["ppo_phase_frames_per_s"] == {"phase1": 5000.0, "phase3": 4000.0}
    assert out["ppo_phase_frames_per_s_samples"]["phase1"] == [3000.0, 9000.0, 5000.0]
    # phase2 is not timed: it takes the mean rate of the timed ones (4500)
    seconds = 500_000 / 5000.0 + 300_000 / 4500.0 + 1_000_000 / 4000.0
    assert out["ppo_frames_per_s"] == pytest.approx(1.8e6 / seconds)
    assert out["ppo_vs_issue"] == tb.issue_ratios(out["ppo_frames_per_s"])


def test_ppo_repeats_is_a_bench_knob_with_a_quick_value():
    assert bench_settings({}).ppo_repeats == 3
    assert bench_settings({"quick": True}).ppo_repeats == 1
    with pytest.raises(ConfigError, match="extras.ppo_repeats=0"):
        bench_settings({"ppo_repeats": 0})
