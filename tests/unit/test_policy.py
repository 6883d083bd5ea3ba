"""HierarchicalPolicy: tensordict keys and shapes, modes, PPO round trip, phases, gradients."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torchrl.envs.utils import ExplorationType, set_exploration_type

from mtquant.agents.hierarchical.policy import HierarchicalPolicy, build_policy
from mtquant.config import compose_config, to_object
from mtquant.errors import ConfigError

DIMS = {"forex": 8, "commodities": 6, "equity": 7}


@pytest.fixture(scope="module")
def run_cfg():  # type: ignore[no-untyped-def]
    return to_object(compose_config("train", []))


def make_policy(run_cfg, seed: int = 0, **kw) -> HierarchicalPolicy:  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    return build_policy(run_cfg.agents, run_cfg.instruments, **kw).eval()


def observation(batch: int | tuple[int, ...], seed: int = 0) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    shape = (batch,) if isinstance(batch, int) else batch
    return TensorDict(
        {
            "meta_state": torch.randn(*shape, 74, generator=g),
            "market": {k: torch.randn(*shape, d, generator=g) for k, d in DIMS.items()},
            "instrument_obs": torch.randn(*shape, 8, 50, generator=g),
            "vol": torch.rand(*shape, 8, generator=g) * 0.02 + 0.002,
        },
        batch_size=list(shape),
    )


@pytest.mark.parametrize("batch", [1, 1024])
def test_writes_every_key_with_its_shape(run_cfg, batch: int) -> None:  # type: ignore[no-untyped-def]
    td = make_policy(run_cfg)(observation(batch))
    shapes = {
        ("action", "allocation"): (batch, 3),
        ("action", "appetite"): (batch, 1),
        ("action", "direction"): (batch, 8),
        ("action", "position"): (batch, 8),
        ("log_prob", "meta"): (batch,),
        ("log_prob", "specialists"): (batch, 3),
        "sample_log_prob": (batch,),
        "value": (batch, 4),
        ("entropy", "meta"): (batch,),
        ("entropy", "specialists"): (batch, 3),
    }
    for key, shape in shapes.items():
        assert td[key].shape == shape, key
    assert td["action", "direction"].dtype == torch.int64
    assert set(td["action", "direction"].unique().tolist()) <= {0, 1, 2}
    assert torch.allclose(td["action", "allocation"].sum(-1), torch.ones(batch), atol=1e-5)
    app = td["action", "appetite"]
    assert ((app >= 0) & (app <= 1)).all()
    torch.testing.assert_close(
        td["sample_log_prob"], td["log_prob", "meta"] + td["log_prob", "specialists"].sum(-1)
    )


def test_sample_then_evaluate_actions_gives_same_log_prob(run_cfg) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(run_cfg)
    with torch.no_grad():
        td = policy(observation(256))
    ev = policy.evaluate_actions(td)
    for key in [
        "sample_log_prob",
        ("log_prob", "meta"),
        ("log_prob", "specialists"),
        "value",
        ("entropy", "meta"),
        ("entropy", "specialists"),
    ]:
        torch.testing.assert_close(ev[key], td[key], rtol=1e-5, atol=1e-4)
    assert ("action", "direction") not in ev.keys(include_nested=True)


def test_evaluate_actions_flattened_rollout_and_gradients(run_cfg) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(run_cfg)
    with torch.no_grad():
        rollout = policy(observation((4, 5)))  # [envs, time]
    assert rollout["action", "direction"].shape == (4, 5, 8)
    ev = policy.evaluate_actions(rollout.reshape(-1))
    torch.testing.assert_close(
        ev["sample_log_prob"], rollout["sample_log_prob"].reshape(-1), rtol=1e-5, atol=1e-4
    )
    (
        ev["sample_log_prob"].sum()
        + ev["value"].sum()
        + ev["entropy", "meta"].sum()
        + ev["entropy", "specialists"].sum()
    ).backward()
    for name, p in policy.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_deterministic_mode_uses_means_and_argmax(run_cfg) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(run_cfg)
    obs = observation(16)
    with torch.no_grad():
        td = policy(obs.clone(), deterministic=True)
        allocation, appetite, _ = policy.meta(obs["meta_state"])
        torch.testing.assert_close(td["action", "allocation"], allocation)
        torch.testing.assert_close(td["action", "appetite"], appetite)
        logits, _ = policy.specialist("forex").logits(
            obs["market", "forex"], obs["instrument_obs"][:, :3], allocation[:, :1]
        )
        assert torch.equal(td["action", "direction"][:, :3], logits.argmax(-1))
        with set_exploration_type(ExplorationType.DETERMINISTIC):
            again = policy(obs.clone())
    assert torch.equal(again["action", "direction"], td["action", "direction"])


def test_same_seed_same_actions(run_cfg) -> None:  # type: ignore[no-untyped-def]
    def act() -> TensorDict:
        policy = make_policy(run_cfg, seed=5)
        torch.manual_seed(9)
        with torch.no_grad():
            return policy(observation(32))

    a, b = act(), act()
    assert torch.equal(a["action", "direction"], b["action", "direction"])
    assert torch.equal(a["action", "allocation"], b["action", "allocation"])


def test_fixed_allocation_phase1(run_cfg) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(run_cfg, fixed_allocation=True)
    with torch.no_grad():
        td = policy(observation(8))
    torch.testing.assert_close(td["action", "allocation"], torch.full((8, 3), 1 / 3))
    torch.testing.assert_close(td["action", "appetite"], torch.ones(8, 1))
    assert (td["log_prob", "meta"] == 0).all() and (td["entropy", "meta"] == 0).all()
    torch.testing.assert_close(
        policy.evaluate_actions(td)["sample_log_prob"], td["sample_log_prob"]
    )


def test_specialists_receive_their_own_allocation(run_cfg) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(run_cfg)
    with torch.no_grad():
        td = policy(observation(4))
        td2 = td.clone()
        td2["action", "allocation"] = torch.tensor([[0.9, 0.05, 0.05]]).expand(4, 3).clone()
        ev, ev2 = policy.evaluate_actions(td), policy.evaluate_actions(td2)
    # changing the allocation changes every specialist's value (allocation is an input)
    assert not torch.allclose(ev["value"][:, 1:], ev2["value"][:, 1:])


def test_set_trainable_freezes_specialists(run_cfg) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(run_cfg)
    policy.set_trainable(meta=True, specialists=False)
    assert all(
        p.requires_grad for p in policy.meta.parameters() if p is not policy.meta.log_concentration
    )
    assert not any(p.requires_grad for p in policy.specialists.parameters())
    with torch.no_grad():
        td = policy(observation(4))
    assert td["log_prob", "specialists"].shape == (4, 3)  # still sampling


def test_with_sizing_writes_target_weights(run_cfg) -> None:  # type: ignore[no-untyped-def]
    actor = make_policy(run_cfg).with_sizing(target_vol=0.01, max_weight=3.0)
    with torch.no_grad():
        td = actor(observation(16))
    w = td["target_weights"]
    assert w.shape == (16, 8) and (w.abs() <= 3.0).all()
    flat = td["action", "direction"] == 1
    assert (w[flat] == 0).all() and (w[~flat] != 0).all()


@pytest.mark.parametrize("mode", ["mean", "mode"])
def test_deterministic_pass_executes_the_position_mode(run_cfg, mode: str) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(run_cfg)
    policy.position_mode = mode
    obs = observation(32)
    with torch.no_grad():
        td = policy(obs.clone(), deterministic=True)
        # each specialist's heads through the plan's interface, at the allocation it was given
        probs = []
        for s, name in enumerate(policy.names):
            sp = policy.specialist(name)
            lo, hi = policy.bounds[s]
            states = {sym: obs["instrument_obs"][:, lo + k] for k, sym in enumerate(sp.instruments)}
            p, _ = sp(obs["market", name], states, td["action", "allocation"][:, s : s + 1])
            probs += [p[sym] for sym in sp.instruments]
    probs_t = torch.stack(probs, 1)  # [B, N, 3]
    position = td["action", "position"]
    if mode == "mean":
        expected = probs_t[..., 0] - probs_t[..., 2]
    else:
        expected = (1 - td["action", "direction"]).to(position.dtype)
    torch.testing.assert_close(position, expected, rtol=1e-5, atol=1e-6)
    assert (position.abs() <= 1.0).all()


def test_sampling_executes_the_sampled_direction_and_bad_modes_are_refused(run_cfg) -> None:  # type: ignore[no-untyped-def]
    with torch.no_grad():
        td = make_policy(run_cfg)(observation(64), deterministic=False)
    sign = (1 - td["action", "direction"]).to(td["action", "position"].dtype)
    assert torch.equal(td["action", "position"], sign)
    built = make_policy(run_cfg)
    with pytest.raises(ConfigError, match="position_mode"):
        HierarchicalPolicy(built.meta, dict(built.specialists), position_mode="max")
    with pytest.raises(ConfigError, match="agents.position_mode"):
        to_object(compose_config("train", ["agents.position_mode=max"]))
