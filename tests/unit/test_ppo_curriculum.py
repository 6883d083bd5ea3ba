"""Phase-3 curriculum: stage by frames, calm start rows from the training split's volatility."""

from __future__ import annotations

import torch

from mtquant.agents.training.curriculum import calm_start_rows, stage_at
from mtquant.config.training import CurriculumStage


def test_stage_switches_by_frames_collected():
    stages = [
        CurriculumStage("calm", 0.25),
        CurriculumStage("mid", 0.25),
        CurriculumStage("full", 0.5),
    ]
    assert [stage_at(stages, f, 1000) for f in (0, 249, 250, 499, 500, 999, 5000)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        2,
    ]


def test_calm_rows_are_the_days_at_or_below_the_volatility_quantile():
    # market vol per day = mean over instruments: rows 10..19 -> 1..10
    vol = torch.zeros(30, 2)
    vol[10:20] = torch.arange(1.0, 11.0).unsqueeze(-1)
    rows = calm_start_rows(vol, first_row=10, last_start=19, quantile=0.5)
    assert rows is not None
    # median of 1..10 (linear) = 5.5 -> days with vol 1..5 -> rows 10..14
    assert rows.tolist() == [10, 11, 12, 13, 14]
    assert calm_start_rows(vol, 10, 19, 1.0) is None
