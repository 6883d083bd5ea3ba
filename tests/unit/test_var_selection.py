"""The VaR study: its periods, its choice rule fixed in advance, and a run on synthetic folds."""

from __future__ import annotations

import pandas as pd
import pytest

from mtquant.config import compose_config, to_object
from mtquant.data import Fold
from mtquant.errors import ConfigError
from mtquant.studies.var_selection import StudyPlan, choose, passes, run_study


def block(rate: float, kupiec: float, cc: float | None) -> dict[str, float | None]:
    return {"breach_rate": rate, "kupiec_p": kupiec, "conditional_coverage_p": cc}


def test_a_model_passes_only_with_both_p_values_above_5_percent() -> None:
    assert passes(block(0.05, 0.5, 0.5))
    assert not passes(block(0.07, 0.01, 0.5)) and not passes(block(0.06, 0.5, 0.04))
    assert not passes(block(0.05, 0.5, None))


def test_choice_counts_passes_then_99_then_the_gap_then_simplicity() -> None:
    good, bad = block(0.05, 0.9, 0.9), block(0.09, 0.001, 0.001)
    table = {
        "parametric": {"a": {"95%": good, "99%": bad}, "b": {"95%": bad, "99%": bad}},
        "ewma": {"a": {"95%": good, "99%": good}, "b": {"95%": bad, "99%": bad}},
        "fhs": {"a": {"95%": good, "99%": good}, "b": {"95%": good, "99%": bad}},
    }
    assert choose(table, 0.95)["chosen"] == "fhs"  # 2 passes at 95%
    del table["fhs"]
    assert choose(table, 0.95)["chosen"] == "ewma"  # tie at 95%, more at 99%
    table["ewma"]["a"]["99%"] = bad
    assert choose(table, 0.95)["chosen"] == "parametric"  # full tie: the simpler model


def test_periods_split_the_folds_at_the_holdout_start() -> None:
    dates = pd.bdate_range("2009-01-01", "2012-12-31")
    row = dates.searchsorted

    def fold(a: str, b: str) -> Fold:
        start, stop = int(row(pd.Timestamp(a))), int(row(pd.Timestamp(b)))
        return Fold(0, dates, (0, start), (start, stop))

    start = pd.Timestamp("2011-01-01")
    research = StudyPlan(("parametric",), "research", start)
    holdout = StudyPlan(("parametric",), "holdout", start)
    early, late, across = (
        fold("2010-01-04", "2010-07-01"),
        fold("2011-01-03", "2011-07-01"),
        fold("2010-10-01", "2011-04-01"),
    )
    assert research.keeps(early, dates) and not research.keeps(late, dates)
    assert holdout.keeps(late, dates) and not holdout.keeps(early, dates)
    assert not research.keeps(across, dates) and not holdout.keeps(across, dates)


def test_plan_refuses_unknown_models_and_periods() -> None:
    cfg = to_object(compose_config("var_study", ["extras.var_methods=[garch]"]))
    with pytest.raises(ConfigError, match="extras.var_methods"):
        StudyPlan.from_config(cfg)
    cfg = to_object(compose_config("var_study", ["extras.period=test"]))
    with pytest.raises(ConfigError, match="extras.period"):
        StudyPlan.from_config(cfg)


def test_study_on_synthetic_folds_backtests_every_model_and_baseline() -> None:
    cfg = to_object(
        compose_config(
            "var_study",
            [
                "data=synthetic",
                "extras.var_methods=[parametric,cornish_fisher]",
                "extras.holdout_start=2100-01-01",  # every synthetic fold is "research"
                "data.walk_forward.last_folds=1",
            ],
        )
    )
    study = run_study(cfg)
    assert study["folds"] == 1 and set(study["table"]) == {"parametric", "cornish_fisher"}
    for by_strategy in study["table"].values():
        assert "equal_weight" in by_strategy
        for b in by_strategy.values():
            assert b["95%"]["days"] > 50 and 0.0 <= b["95%"]["breach_rate"] <= 1.0
    assert study["choice"]["chosen"] in {"parametric", "cornish_fisher"}
    assert "| cornish_fisher | equal_weight |" in study["markdown"]
