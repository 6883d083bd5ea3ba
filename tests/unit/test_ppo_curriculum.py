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


def test_curriculum_drives_the_env_through_its_public_hooks():
    from mtquant.agents.environments.multi_instrument_env import make_env
    from mtquant.agents.training.curriculum import Curriculum
    from mtquant.config import compose_config, to_object
    from mtquant.instruments import InstrumentUniverse
    from mtquant.testing.random_walk import random_walk_features

    cfg = to_object(compose_config("train", ["env.cost_multiplier=2.0"]))
    features = random_walk_features(InstrumentUniverse.from_config(cfg.instruments), 300, seed=1)
    env = make_env(cfg, features, (0, 250), batch_size=64, seed=0)
    stages = [CurriculumStage("calm", 0.5, 0.5, 0.3), CurriculumStage("full", 0.5, 1.0, 1.0)]
    curriculum = Curriculum(env, stages, 1000, 100, features.vol, base_cost_multiplier=2.0)
    base = env.base_env
    curriculum(0)  # frames 0: calm stage
    assert base.cost_multiplier == 1.0 and curriculum.current == 0
    pool = calm_start_rows(features.vol, base.first_row, base.last_start, 0.3)
    assert set(env.reset()["info", "date_index"].tolist()) <= set(pool.tolist())
    curriculum(5)  # frames 500: full stage
    assert base.cost_multiplier == 2.0 and curriculum.current == 1
    assert not set(env.reset()["info", "date_index"].tolist()) <= set(pool.tolist())  # whole split
