"""Data snooping (SPA, StepM via arch) on hand-built strategies, and its place in the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_report import make_result

from mtquant.errors import DataError
from mtquant.evaluation import VerdictContext, summarise, write_report
from mtquant.evaluation.results import StrategyResult
from mtquant.evaluation.snooping import data_snooping

T = 60  # make_result's length


def _noise(k: int, seed: int = 0, sd: float = 0.01) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, sd, T) for _ in range(k)]


def _strategies(system_returns: np.ndarray, baselines: list[np.ndarray]) -> list[StrategyResult]:
    return [make_result("system", system_returns)] + [
        make_result(f"base{i}", r) for i, r in enumerate(baselines)
    ]


def _row(block: dict, benchmark: str) -> dict:
    return next(t for t in block["tests"] if t["benchmark"] == benchmark)


def test_planted_positive_mean_beats_noise_benchmarks_with_a_small_spa_p():
    noise = _noise(4)
    block = data_snooping(_strategies(noise[0] + 0.008, noise[1:]), "system", seed=1)
    assert block["status"] == "measured" and block["days"] == T
    for name in ("base0", "base1", "base2"):
        row = _row(block, name)
        assert row["spa_pvalues"]["consistent"] < 0.01, row
        assert "system" in row["stepm_superior"] and row["system_superior"] is True
        assert row["mean_excess_return"]["system"] > 0.0
    assert block["system_superior_to"] == ["base0", "base1", "base2"]
    own = _row(block, "system")
    assert own["system_superior"] is None and own["stepm_superior"] == []
    assert block["superior_to_system"] == []
    json.dumps(block, allow_nan=False)


def test_identical_strategies_get_p_one_and_nothing_superior():
    r = _noise(1, seed=2)[0]
    block = data_snooping(_strategies(r, [r.copy(), r.copy()]), "system", seed=0)
    for row in block["tests"]:
        assert row["spa_pvalues"] == {"lower": 1.0, "consistent": 1.0, "upper": 1.0}
        assert row["stepm_superior"] == [] and row["models"] == []
        assert len(row["identical_to_benchmark"]) == 2
    assert block["system_superior_to"] == [] and block["superior_to_system"] == []


def test_strategies_all_worse_than_the_benchmark_get_p_one():
    noise = _noise(3, seed=3)
    block = data_snooping(_strategies(noise[0] + 0.008, [n - 0.004 for n in noise[1:]]), "system")
    own = _row(block, "system")
    assert all(m < 0 for m in own["mean_excess_return"].values())
    assert own["spa_pvalues"] == {"lower": 1.0, "consistent": 1.0, "upper": 1.0}


def test_same_distribution_is_rarely_rejected():
    """No strategy has an edge: across data sets the consistent p is mostly large."""
    pvalues = []
    for seed in range(12):
        noise = _noise(3, seed=100 + seed)
        block = data_snooping(_strategies(noise[0], noise[1:]), "system", seed=seed, reps=300)
        pvalues += [t["spa_pvalues"]["consistent"] for t in block["tests"]]
    assert np.mean(np.array(pvalues) < 0.05) <= 0.15
    assert np.median(pvalues) > 0.3


def test_snooping_is_deterministic_given_the_seed():
    noise = _noise(3, seed=4)
    results = _strategies(noise[0] + 0.002, noise[1:])
    a = data_snooping(results, "system", seed=5)
    b = data_snooping(results, "system", seed=5)
    c = data_snooping(results, "system", seed=6)
    assert a == b
    assert [t["seed"] for t in a["tests"]] == [[5, 0], [5, 1], [5, 2]]
    assert [t["spa_pvalues"] for t in a["tests"]] != [t["spa_pvalues"] for t in c["tests"]]
    assert a["bootstrap"]["kind"] == "stationary" and a["seed"] == 5


def test_strategies_are_aligned_on_common_dates():
    noise = _noise(2, seed=5)
    results = _strategies(noise[0], noise[1:])
    late = results[1]
    shifted = StrategyResult(
        late.name, late.dates[10:], late.returns[10:], late.equity[10:], late.weights[10:],
        {k: v[10:] for k, v in late.costs.items()}, late.initial_equity,
    )  # fmt: skip
    block = data_snooping([results[0], shifted], "system")
    assert block["days"] == T - 10 and block["first"] == str(late.dates[10])


def test_too_few_days_or_one_strategy_is_not_measured():
    noise = _noise(2, seed=6)
    results = _strategies(noise[0], noise[1:])
    assert data_snooping(results[:1], "system")["status"] == "not measured"
    short = [
        StrategyResult(r.name, r.dates[:10], r.returns[:10], r.equity[:10], r.weights[:10],
                       {k: v[:10] for k, v in r.costs.items()}, r.initial_equity)
        for r in results
    ]  # fmt: skip
    assert "10 common days" in data_snooping(short, "system")["reason"]
    with pytest.raises(DataError, match="'nobody'"):
        data_snooping(results, "nobody")


def test_write_report_puts_the_snooping_block_in_metrics_json_and_html(tmp_path):
    noise = _noise(3, seed=7)
    results = _strategies(noise[0] + 0.008, noise[1:])
    sums = [summarise(r, n_boot=50) for r in results]
    paths = write_report(
        tmp_path, results, sums, [], {}, VerdictContext("system", "the test", seed=3)
    )
    data = json.loads(paths["metrics"].read_text())
    assert data["data_snooping"] == data_snooping(results, "system", seed=3)
    page = paths["html"].read_text()
    assert "Data snooping: SPA and StepM" in page and "SPA p consistent" in page
    assert "superior to: base0, base1" in page
