"""Prove that it learns (issue 6): the planted signal is found, and signal-free data leaks nothing.

The slow test trains the system twice (``experiment=learn_signal`` / ``learn_nosignal``) and scores
it on the validation split; the fast tests pin the pieces the verdict rests on (the oracle's
weights, the frictionless oracle, the excess-return t statistic, the checks).
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from mtquant.studies.learning_check import (
    HalfResult,
    PlantedSignalOracle,
    checks,
    direction_signal,
    excess_t_stat,
    format_table,
    half_overrides,
    learning_check,
)


def _half(system: float, oracle: float, ew: float, t: float) -> HalfResult:
    return HalfResult(0.1, system, oracle, oracle, oracle, system / oracle, ew, t, 500, "", 1.0)


def test_oracle_sizes_the_planted_signal_like_the_system_at_equal_allocation():
    signal = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])  # [T=2, N=3]
    spec_index = torch.tensor([0, 0, 1])  # two instruments in specialist 0, one in 1
    oracle = PlantedSignalOracle(signal, spec_index, target_vol=0.01, max_weight=1.5)
    td = TensorDict(
        {"vol": torch.tensor([[0.01, 0.005, 0.02]]), ("info", "date_index"): torch.tensor([1])},
        batch_size=[1],
    )
    w = oracle(td)["target_weights"][0]
    # s * 0.01 / (n_s * vol): 1*0.01/(2*0.01) = 0.5; -2*0.01/(2*0.005) = -2 -> clipped; 0.5*0.01/0.02
    assert torch.allclose(w, torch.tensor([0.5, -1.5, 0.25]))


def test_direction_signal_is_the_sign_outside_the_band_and_flat_inside():
    s = torch.tensor([[-1.2, -0.5, -0.49, 0.0, 0.3, 0.5, 2.0]])
    assert direction_signal(s).tolist() == [[-1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0]]


def test_excess_t_stat_is_mean_over_standard_error_of_the_daily_difference():
    a = np.array([0.01, 0.02, 0.03, 0.0])
    b = np.array([0.0, 0.01, 0.01, 0.0])
    d = a - b  # 0.01, 0.01, 0.02, 0.0: mean 0.01, sd 0.008165
    assert excess_t_stat(a, b) == pytest.approx(0.01 / np.sqrt(2.0 / 3.0 * 1e-4) * 2.0)
    assert excess_t_stat(b, b) == 0.0
    assert d.mean() == pytest.approx(0.01)


def test_checks_need_seventy_percent_of_the_oracle_and_no_significant_edge_without_signal():
    extras = {"min_oracle_ratio": 0.7, "no_leak_z": 1.645}
    ok = checks(_half(1.5, 2.0, -0.1, 3.0), _half(0.2, 0.0 + 1e-9, 0.1, 0.5), extras)
    assert ok == {"reaches_oracle_ratio": True, "beats_equal_weight": True, "no_leak": True}
    short = checks(_half(1.3, 2.0, -0.1, 3.0), _half(0.2, 1e-9, 0.1, 2.0), extras)
    assert short == {"reaches_oracle_ratio": False, "beats_equal_weight": True, "no_leak": False}


def test_the_planted_ic_reaches_the_signal_half_only():
    from mtquant.errors import ConfigError

    assert half_overrides("signal", ["seed=1"], 0.05) == [
        "seed=1", "data.synthetic.signal_strength=0.05"
    ]  # fmt: skip
    assert half_overrides("nosignal", ["seed=1"], 0.05) == ["seed=1"]
    assert half_overrides("signal", [], None) == []
    with pytest.raises(ConfigError, match="--ic"):  # it would plant a signal in both halves
        half_overrides("nosignal", ["data.synthetic.signal_strength=0.05"], None)


def test_table_shows_the_argmax_execution_beside_the_system():
    sig = replace(_half(2.19, 2.92, 0.27, 4.5), system_mode_sharpe=1.87)
    result = {
        "signal": asdict(sig),
        "nosignal": asdict(_half(-0.38, 1e-9, 0.09, -0.9)),
        "checks": {"reaches_oracle_ratio": True, "beats_equal_weight": True, "no_leak": True},
        "min_oracle_ratio": 0.7,
        "no_leak_z": 1.645,
    }
    signal_row = format_table(result).splitlines()[2]
    assert signal_row.split()[2:6] == ["+2.19", "+2.92", "0.75", "+1.87"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """Both halves, trained once for the slow tests below (two processes, one core each)."""
    torch.set_num_threads(1)
    return learning_check(tmp_path_factory.mktemp("learning_check"))


def _table(result) -> str:
    sig, nosig = result["signal"], result["nosignal"]
    return (
        f"signal: system {sig['system_sharpe']:.2f} oracle {sig['oracle_sharpe']:.2f} "
        f"ew {sig['equal_weight_sharpe']:.2f}; no signal: system {nosig['system_sharpe']:.2f} "
        f"ew {nosig['equal_weight_sharpe']:.2f} t {nosig['excess_t']:.2f}"
    )


@pytest.mark.slow
def test_trained_system_reaches_seventy_percent_of_oracle(experiment):
    """Measured (scripts/learning_check.py, data seed 7, seed 0): system +2.19 vs oracle +2.92
    (0.75) with agents.position_mode=mean; the same trained policy executing its argmax
    directions (position_mode=mode) made +1.87 (0.64)."""
    sig = experiment["signal"]
    assert sig["oracle_sharpe"] > 0, _table(experiment)
    assert sig["system_sharpe"] >= 0.7 * sig["oracle_sharpe"], _table(experiment)


@pytest.mark.slow
def test_trained_system_beats_equal_weight_significantly_on_the_planted_signal(experiment):
    sig = experiment["signal"]
    assert sig["system_sharpe"] > sig["equal_weight_sharpe"], _table(experiment)
    assert sig["excess_t"] > 1.645, _table(experiment)  # one-sided 5 %: learnt, not luck
    assert experiment["checks"]["beats_equal_weight"]


@pytest.mark.slow
def test_trained_system_does_not_beat_equal_weight_on_signal_free_data(experiment):
    nosig = experiment["nosignal"]
    assert nosig["oracle_sharpe"] == 0.0  # no signal: the oracle stays flat
    assert nosig["excess_t"] < 1.645, _table(experiment)
    assert experiment["checks"]["no_leak"]
