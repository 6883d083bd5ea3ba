"""The single-agent stage: one-level view of FlatPPOPolicy, its PPO update, feed, config, export."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torch.distributions import Categorical
from torchrl.collectors import Collector

from mtquant.agents.environments.multi_instrument_env import make_env
from mtquant.agents.training.collector_dataset import RolloutMinibatches, learner_keys
from mtquant.agents.training.ppo_loss import PPOCoefficients, level_mask, ppo_loss
from mtquant.agents.training.ppo_module import PPOModule
from mtquant.agents.training.single_agent import SINGLE_AGENT_STAGE, single_agent_view
from mtquant.agents.training.stage import GroupSchedule
from mtquant.agents.training.stages import STAGES
from mtquant.artifacts import SINGLE_AGENT_COMPONENT as EVAL_NAME
from mtquant.artifacts import SINGLE_AGENT_EXPORT, RunDir, export_files, flat_metadata
from mtquant.config import compose_config, to_object
from mtquant.config.training import PHASES, SINGLE_AGENT
from mtquant.errors import ConfigError
from mtquant.instruments import InstrumentUniverse
from mtquant.testing.random_walk import random_walk_features

CFG = to_object(compose_config("train", ["training=smoke", "training.single_agent.hidden_dim=32"]))
UNIVERSE = InstrumentUniverse.from_config(CFG.instruments)
FEATURES = random_walk_features(UNIVERSE, n_days=120, seed=2)


def _view(seed: int = 0):
    return single_agent_view(CFG, FEATURES, seed)


def _reset(batch: int = 4) -> TensorDict:
    return make_env(CFG, FEATURES, (0, 120), batch_size=batch, seed=0).reset()


def test_view_writes_the_joint_log_prob_as_level_zero_and_no_specialist_level():
    view = _view()
    td = view(_reset())
    obs = td["instrument_obs"]
    parts = [obs.reshape(4, -1), td["meta_state"], *[td["market", n] for n in UNIVERSE.specialists]]
    logits = view.net.logits_head(view.net.body(torch.cat(parts, -1))).reshape(4, 8, 3)
    by_hand = Categorical(logits=logits).log_prob(td["action", "direction"]).sum(-1)
    torch.testing.assert_close(td["log_prob", "meta"], by_hand)
    torch.testing.assert_close(td["sample_log_prob"], by_hand)
    assert td["log_prob", "specialists"].shape == (4, 0)
    assert td["entropy", "specialists"].shape == (4, 0)
    assert td["value"].shape == (4, 1)
    assert td["action", "allocation"].allclose(torch.full((4, 3), 1 / 3))


def test_view_evaluate_actions_reproduces_the_collection_log_prob():
    view = _view()
    td = view(_reset())
    again = view.evaluate_actions(td)
    torch.testing.assert_close(again["log_prob", "meta"], td["log_prob", "meta"])
    torch.testing.assert_close(again["value"], td["value"])
    assert ("action", "direction") not in again.keys(include_nested=True)


def test_same_seed_builds_the_same_network_whatever_the_global_rng():
    torch.manual_seed(1)
    a = _view(seed=7).net.state_dict()
    torch.manual_seed(2)
    b = _view(seed=7).net.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key])
    before = torch.get_rng_state()
    _view(seed=7)
    assert torch.equal(torch.get_rng_state(), before)  # building leaves the global RNG alone


def test_one_ppo_step_raises_the_log_prob_of_the_action_with_positive_advantage():
    view = _view()
    td = view(_reset(2))
    batch = td.select(*learner_keys(view), strict=False).clone()
    batch.set("advantages", torch.tensor([[1.0], [-1.0]]))
    batch.set("returns", td["value"].detach())
    mask = level_mask(0, True, False)
    assert mask.tolist() == [True]
    out = ppo_loss(view.evaluate_actions(batch), batch, mask, PPOCoefficients(entropy_coef=0.0))
    out["loss"].backward()
    with torch.no_grad():
        for p in view.net.parameters():
            p -= 0.05 * p.grad
        after = view.evaluate_actions(batch)["log_prob", "meta"]
    assert after[0] > batch["log_prob", "meta"][0]
    assert after[1] < batch["log_prob", "meta"][1]


def _module(view, weight_decay: float = 0.0) -> PPOModule:
    schedules = SINGLE_AGENT_STAGE.schedules(CFG.training.single_agent)
    return PPOModule(
        SINGLE_AGENT_STAGE, view, None, 0, schedules, PPOCoefficients(), 0.5,  # type: ignore[arg-type]
        weight_decay=weight_decay,
    )  # fmt: skip


def test_single_agent_stage_optimises_every_network_parameter_in_one_group():
    view = _view()
    schedules = SINGLE_AGENT_STAGE.schedules(CFG.training.single_agent)
    assert schedules == {"meta": GroupSchedule(CFG.training.single_agent.learning_rate)}
    (opt,) = _module(view).configure_optimizers()
    n_opt = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n_opt == sum(p.numel() for p in view.net.parameters())
    assert all(p.requires_grad for p in view.net.parameters())
    assert STAGES[SINGLE_AGENT] is SINGLE_AGENT_STAGE and view.fixed_allocation


def test_weight_decay_switches_every_optimiser_to_adamw_with_that_decay():
    view = _view()
    (adam,) = _module(view).configure_optimizers()
    assert type(adam) is torch.optim.Adam
    decayed = _module(view, weight_decay=0.1)
    (adamw,) = decayed.configure_optimizers()
    assert type(adamw) is torch.optim.AdamW
    assert [g["weight_decay"] for g in adamw.param_groups] == [0.1]


def test_feed_computes_gae_on_the_portfolio_reward_only():
    view = _view()
    env = make_env(CFG, FEATURES, (0, 120), batch_size=2, seed=0, episode_length=5)
    actor = view.with_sizing(CFG.env.sizing_target_vol, CFG.env.max_gross_weight)
    collector = Collector(
        env, actor, frames_per_batch=16, total_frames=-1, reset_at_each_iter=True,
        auto_register_policy_transforms=False, trust_policy=True,
    )  # fmt: skip
    gamma, lam = 0.9, 0.8
    feed = RolloutMinibatches(
        collector, view.values, [], gamma, lam, 1, 8, 0, keys=learner_keys(view), reward_levels=1
    )
    ro = feed.collect()  # [2, 8]: episodes of 5 steps, then a fresh one
    collector.shutdown()
    assert ro["advantages"].shape == (2, 8, 1)
    r, v = ro["next", "reward"][..., 0].double(), ro["value"][..., 0].double()
    with torch.no_grad():
        nv = view.values(ro["next"])[..., 0].double()
    done, term = ro["next", "done"][..., 0], ro["next", "terminated"][..., 0]
    expected = torch.zeros_like(r)
    for b in range(2):  # the TD(lambda) recursion, step by step
        gae = 0.0
        for t in reversed(range(8)):
            delta = r[b, t] + gamma * nv[b, t] * (~term[b, t]) - v[b, t]
            gae = delta + gamma * lam * (~done[b, t]) * gae
            expected[b, t] = gae
    torch.testing.assert_close(ro["advantages"][..., 0].double(), expected, atol=1e-5, rtol=1e-5)


def test_export_round_trips_through_the_evaluation_loader(tmp_path):
    view = _view()
    run = RunDir(tmp_path)
    run.save_stage(CFG, SINGLE_AGENT, view.net)
    assert export_files(SINGLE_AGENT, list(UNIVERSE.specialists)) == [SINGLE_AGENT_EXPORT]
    raw = torch.load(tmp_path / SINGLE_AGENT_EXPORT, weights_only=True)
    assert raw["metadata"] == flat_metadata(CFG, view.net)
    assert raw["metadata"]["component"] == EVAL_NAME == "single_agent_ppo"
    dims = raw["metadata"]["dims"]
    assert dims["hidden_dim"] == 32 and dims["observation_dim"] == FEATURES.obs.shape[-1]
    assert dims["equity.market_features_dim"] == FEATURES.market["equity"].shape[-1]
    net = run.load_flat(CFG, UNIVERSE.specialist_index())  # rebuilt from the recorded dims
    assert net is not None and net.dims == view.net.dims and net.symbols == UNIVERSE.symbols
    for key, value in view.net.state_dict().items():
        assert torch.equal(net.state_dict()[key], value)


@pytest.mark.parametrize("schedule", ["smoke", "default", "full"])
def test_schedules_train_the_single_agent_after_the_three_phases(schedule):
    cfg = to_object(compose_config("train", [f"training={schedule}"]))
    assert cfg.training.phases == [*PHASES, SINGLE_AGENT]
    assert cfg.training.single_agent.timesteps >= 1


def test_unknown_stage_is_refused_naming_the_known_ones():
    with pytest.raises(ConfigError, match="single_agent"):
        to_object(compose_config("train", ["training.phases=[phase1,flat]"]))


def test_single_agent_seed_differs_from_every_phase_seed_of_nearby_run_seeds():
    phase_seeds = {STAGES[p].seed(s) for s in range(100) for p in PHASES}
    assert all(SINGLE_AGENT_STAGE.seed(s) not in phase_seeds for s in range(100))
    assert STAGES["phase1"].seed(0) == 0 and STAGES["phase3"].seed(2) == 8  # unchanged
