"""MultiInstrumentEnv: specs, seeding, partial resets, split boundary, rewards and records."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torchrl.envs.utils import check_env_specs

from mtquant.agents.environments.multi_instrument_env import MultiInstrumentEnv
from mtquant.config import RunConfig, compose_config, to_object
from mtquant.errors import ConfigError, DataError
from mtquant.execution.kernel import KernelState, step_kernel, target_units
from mtquant.features.feature_set import FeatureSet
from mtquant.features.layout import PortfolioStateLayout
from mtquant.instruments import InstrumentUniverse
from mtquant.testing.random_walk import random_walk_features


@pytest.fixture(scope="module")
def cfg() -> RunConfig:
    return to_object(compose_config("train", []))


@pytest.fixture(scope="module")
def universe(cfg: RunConfig) -> InstrumentUniverse:
    return InstrumentUniverse.from_config(cfg.instruments)


@pytest.fixture(scope="module")
def features(universe: InstrumentUniverse) -> FeatureSet:
    return random_walk_features(universe, n_days=300, seed=3)


def make(
    cfg: RunConfig, universe: InstrumentUniverse, features: FeatureSet, **kw
) -> MultiInstrumentEnv:
    kw.setdefault("split", (0, 200))
    kw.setdefault("batch_size", 4)
    return MultiInstrumentEnv(features, universe, cfg.env, cfg.risk, **kw)


def random_policy(seed: int):
    g = torch.Generator().manual_seed(seed)

    def policy(td: TensorDict) -> TensorDict:
        td["target_weights"] = 0.2 * torch.randn(*td.batch_size, 8, generator=g)
        return td

    return policy


def test_env_specs_pass_check_env_specs(cfg, universe, features) -> None:
    env = make(cfg, universe, features, seed=0)
    check_env_specs(env)
    td = env.reset()
    assert td["meta_state"].shape == (4, PortfolioStateLayout(8, 3).dim) == (4, 74)
    assert td["instrument_obs"].shape == (4, 8, 50)
    assert td["market", "forex"].shape == (4, 8) and td["cov"].shape == (4, 8, 8)


def test_same_seed_gives_the_same_rollout_and_another_seed_does_not(
    cfg, universe, features
) -> None:
    def run(seed: int) -> torch.Tensor:
        env = make(cfg, universe, features, seed=seed)
        return env.rollout(20, random_policy(1), break_when_any_done=False)[
            "next", "info", "equity"
        ]

    assert torch.equal(run(5), run(5))
    assert not torch.equal(run(5), run(6))


def test_episodes_never_read_a_row_at_or_past_the_split_stop(cfg, universe, features) -> None:
    env = make(cfg, universe, features, split=(100, 160), batch_size=64, seed=2, episode_length=40)
    ro = env.rollout(200, random_policy(0), break_when_any_done=False)
    rows = ro["next", "info", "date_index"]
    assert rows.max().item() < 160 and ro["info", "date_index"].min().item() >= 100
    assert ro["next", "truncated"].any()
    # every episode is at most 40 steps: the row advances by one per step from its start
    assert (ro["next", "info", "date_index"] - ro["info", "date_index"] == 1).all()


def test_start_rows_respect_features_valid_from(cfg, universe, features) -> None:
    env = make(cfg, universe, features, split=(0, 140), batch_size=256, seed=0)
    td = env.reset()
    assert td["info", "date_index"].min().item() >= features.valid_from


def test_partial_reset_restarts_only_flagged_accounts(cfg, universe, features) -> None:
    env = make(cfg, universe, features, seed=0)
    td = env.reset()
    for _ in range(3):
        td = env.step(random_policy(0)(td))["next"]
    before = env.state.clone()
    td["_reset"] = torch.tensor([[True], [False], [True], [False]])
    td = env.reset(td)
    after = env.state
    assert torch.equal(after.equity[[1, 3]], before.equity[[1, 3]])
    assert torch.equal(after.t[[1, 3]], before.t[[1, 3]])
    assert (after.equity[[0, 2]] == cfg.env.initial_equity).all()
    assert (after.units[[0, 2]] == 0).all()
    assert torch.equal(td["info", "equity"][[1, 3]], before.equity[[1, 3]])


def test_resending_current_weights_sends_no_order_and_pays_no_fill_cost(
    cfg, universe, features
) -> None:
    env = make(cfg, universe, features, seed=0, start_rows=[100] * 4)
    td = env.reset()
    td["target_weights"] = torch.full((4, 8), 0.1)
    td = env.step(td)["next"]
    assert td["info", "spread_cost"].sum() > 0
    td["target_weights"] = td["weights"].clone()
    nxt = env.step(td)["next"]
    fills = nxt["info", "spread_cost"] + nxt["info", "commission"] + nxt["info", "slippage"]
    assert fills.abs().sum().item() == 0.0
    assert nxt["info", "turnover"].abs().sum().item() == 0.0


def test_env_step_equals_the_kernel_step_and_reward_formulas(cfg, universe, features) -> None:
    env = make(cfg, universe, features, seed=0, start_rows=[120, 130, 140, 150])
    td = env.reset()
    w = 0.3 * torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    td["target_weights"] = w
    alloc = torch.tensor([[1 / 3, 1 / 3, 1 / 3]] * 4)
    td["action", "allocation"] = alloc
    state0 = env.state.clone()
    nxt = env.step(td)["next"]
    close = env.tape.prices.close[state0.t]
    ref, bd = step_kernel(
        state0,
        target_units(w, state0.equity, close, env.params.usd_base),
        env.tape.prices,
        env.params,
    )
    assert torch.equal(nxt["info", "equity"], ref.equity)
    e = cfg.env
    dd1 = 1 - ref.equity / ref.peak_equity
    meta = e.reward_scale * (torch.log(ref.equity / state0.equity) - e.drawdown_penalty * dd1)
    meta = meta + e.diversification_bonus * 1.0  # uniform allocation: normalised entropy 1
    assert torch.allclose(nxt["reward"][:, 0].double(), meta, rtol=1e-5, atol=1e-5)
    spec = bd.specialist_return
    expected = e.reward_scale * (spec - e.specialist_risk_aversion * e.reward_scale * spec**2)
    assert torch.allclose(nxt["reward"][:, 1:].double(), expected, rtol=1e-5, atol=1e-6)
    net = (bd.pnl - bd.costs).sum(-1) / state0.equity
    assert torch.allclose(spec.sum(-1), net, rtol=1e-10)


def test_margin_call_terminates_the_episode(cfg, universe, features) -> None:
    env = make(cfg, universe, features, seed=0, batch_size=2, start_rows=[100, 100])
    td = env.reset()
    # account 0 bets 3x against each instrument's next 30-day move (a sure loss), account 1 is flat
    move = torch.sign(features.close[130] - features.close[100]).float()
    td["target_weights"] = torch.stack([-3.0 * move, torch.zeros(8)])
    terminated = torch.zeros(2, 1, dtype=torch.bool)
    for _ in range(30):
        td = env.step(td)["next"]
        terminated |= td["terminated"]
        td["target_weights"] = td["weights"].clone()  # hold the units: no order
        if td["terminated"][0]:
            break
    assert terminated[0].item() and not terminated[1].item()
    assert env.state.units[0].abs().sum().item() == 0.0 and env.state.equity[0].item() >= 0.0


def test_bad_split_is_rejected_with_the_rows(cfg, universe, features) -> None:
    with pytest.raises(DataError, match="split rows"):
        make(cfg, universe, features, split=(0, 500))
    with pytest.raises(DataError, match="valid_from"):
        make(cfg, universe, features, split=(0, 61))


def test_state_initial_is_flat(universe) -> None:
    s = KernelState.initial(torch.tensor([5, 6]), universe.n, 3, 1000.0)
    assert s.units.shape == (2, 8) and (s.equity == 1000.0).all() and s.t.tolist() == [5, 6]


def test_start_pool_restricts_random_starts_and_none_restores_the_split(
    cfg, universe, features
) -> None:
    env = make(cfg, universe, features, batch_size=256, seed=0)
    env.set_start_pool(torch.tensor([120, 150]))
    rows = env.reset()["info", "date_index"]
    assert set(rows.tolist()) == {120, 150}
    env.set_start_pool(None)
    assert len(set(env.reset()["info", "date_index"].tolist())) > 2


def test_start_pool_draws_are_fixed_by_the_env_seed(cfg, universe, features) -> None:
    def starts(seed: int) -> list[int]:
        env = make(cfg, universe, features, batch_size=16, seed=seed)
        env.set_start_pool(torch.arange(100, 140))
        return env.reset()["info", "date_index"].tolist()

    assert starts(3) == starts(3) and starts(3) != starts(4)


def test_fixed_start_rows_win_over_the_start_pool(cfg, universe, features) -> None:
    env = make(cfg, universe, features, seed=0, start_rows=[100, 101, 102, 103])
    env.set_start_pool(torch.tensor([150]))
    assert env.reset()["info", "date_index"].tolist() == [100, 101, 102, 103]


def test_start_pool_rejects_rows_outside_the_start_range(cfg, universe, features) -> None:
    env = make(cfg, universe, features, split=(0, 200), seed=0)
    with pytest.raises(DataError, match="row 199 outside the start range"):
        env.set_start_pool(torch.tensor([120, 199]))  # last start is 198
    with pytest.raises(DataError, match="non-empty integer"):
        env.set_start_pool(torch.tensor([], dtype=torch.long))
    with pytest.raises(DataError, match="non-empty integer"):
        env.set_start_pool(torch.tensor([120.0]))


def test_cost_multiplier_hook_scales_the_next_fill_costs(cfg, universe, features) -> None:
    def spread_paid(multiplier: float | None) -> torch.Tensor:
        env = make(cfg, universe, features, seed=0, start_rows=[100] * 4)
        if multiplier is not None:
            env.set_cost_multiplier(multiplier)
        td = env.reset()
        td["target_weights"] = torch.full((4, 8), 0.1)
        return env.step(td)["next", "info", "spread_cost"]

    base = spread_paid(None)
    assert base.abs().sum() > 0
    torch.testing.assert_close(spread_paid(2.5 * cfg.env.cost_multiplier), 2.5 * base)
    assert spread_paid(0.0).abs().sum().item() == 0.0


def test_cost_multiplier_hook_rejects_negative_or_nan(cfg, universe, features) -> None:
    env = make(cfg, universe, features, seed=0)
    for bad in (-0.5, float("nan")):
        with pytest.raises(ConfigError, match="set_cost_multiplier"):
            env.set_cost_multiplier(bad)
    assert env.cost_multiplier == cfg.env.cost_multiplier
