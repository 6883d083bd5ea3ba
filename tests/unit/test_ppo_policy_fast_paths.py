"""The policy's fast paths used by training equal the plain per-specialist computation."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torch.distributions import Beta, Categorical, Dirichlet

from mtquant.agents.hierarchical.distributions import (
    ACTION_EPS,
    MetaActionDistribution,
    clamp_simplex,
)
from mtquant.agents.hierarchical.policy import HierarchicalPolicy, build_policy
from mtquant.config import compose_config, to_object

DIMS = {"forex": 8, "commodities": 6, "equity": 7}


@pytest.fixture(scope="module")
def run_cfg():  # type: ignore[no-untyped-def]
    return to_object(compose_config("train", []))


def make_policy(run_cfg, **kw) -> HierarchicalPolicy:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return build_policy(run_cfg.agents, run_cfg.instruments, **kw).eval()


def observation(*shape: int) -> TensorDict:
    g = torch.Generator().manual_seed(1)
    return TensorDict(
        {
            "meta_state": torch.randn(*shape, 74, generator=g),
            "market": {k: torch.randn(*shape, d, generator=g) for k, d in DIMS.items()},
            "instrument_obs": torch.randn(*shape, 8, 50, generator=g),
        },
        batch_size=list(shape),
    )


@pytest.mark.parametrize("fixed", [False, True])
def test_values_equal_the_deterministic_forward_value(run_cfg, fixed: bool) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(run_cfg, fixed_allocation=fixed)
    obs = observation(3, 5)
    with torch.no_grad():
        full = policy(obs.clone(), deterministic=True)["value"]
        assert torch.equal(policy.values(obs), full)


def test_fused_heads_equal_each_specialists_own_logits(run_cfg) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(run_cfg)
    obs = observation(16)
    alloc = torch.softmax(torch.randn(16, 3, generator=torch.Generator().manual_seed(2)), -1)
    with torch.no_grad():
        logits, values = policy._specialist_logits(obs, obs["instrument_obs"], alloc, 16)
        for s, name in enumerate(policy.names):
            lo, hi = policy.bounds[s]
            ref, ref_v = policy.specialist(name).logits(
                obs["market", name], obs["instrument_obs"][:, lo:hi], alloc[:, s : s + 1]
            )
            torch.testing.assert_close(logits[:, lo:hi], ref, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(values[:, s : s + 1], ref_v, rtol=0, atol=0)


def test_fused_pass_follows_weights_written_in_place(run_cfg) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(run_cfg)
    obs = observation(8)
    with torch.no_grad():
        before = policy(obs.clone(), deterministic=True)["sample_log_prob"].clone()
        policy.specialist("forex").instrument_heads["EURUSD"][3].bias.data[0] += 1.0
        after = policy(obs.clone(), deterministic=True)["sample_log_prob"]
    assert not torch.equal(after, before)


def test_log_probs_and_entropies_equal_torch_distributions(run_cfg) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(run_cfg)
    obs = observation(32)
    torch.manual_seed(4)
    with torch.no_grad():
        td = policy(obs.clone())
        dist, _ = policy.meta.distribution(obs["meta_state"])
        alloc, app = td["action", "allocation"], td["action", "appetite"]
        conc = dist.allocation_alpha
        ab = dist.appetite_alpha_beta
        meta_ref = Dirichlet(conc).log_prob(clamp_simplex(alloc)) + Beta(
            ab[:, 0], ab[:, 1]
        ).log_prob(app.squeeze(-1).clamp(ACTION_EPS, 1 - ACTION_EPS))
        torch.testing.assert_close(td["log_prob", "meta"], meta_ref, rtol=0, atol=0)
        ent_ref = Dirichlet(conc).entropy() + Beta(ab[:, 0], ab[:, 1]).entropy()
        torch.testing.assert_close(td["entropy", "meta"], ent_ref, rtol=0, atol=0)
        logits, _ = policy._specialist_logits(obs, obs["instrument_obs"], alloc, 32)
        cat = Categorical(logits=logits)
        direction = td["action", "direction"]
        lp = cat.log_prob(direction)
        spec_ref = torch.stack([lp[:, lo:hi].sum(-1) for lo, hi in policy.bounds], -1)
        torch.testing.assert_close(td["log_prob", "specialists"], spec_ref, rtol=0, atol=0)
        ent = cat.entropy()
        ent_spec = torch.stack([ent[:, lo:hi].sum(-1) for lo, hi in policy.bounds], -1)
        torch.testing.assert_close(td["entropy", "specialists"], ent_spec, rtol=0, atol=0)


def test_meta_distribution_objects_are_built_on_demand() -> None:
    mean = torch.tensor([[0.5, 0.3, 0.2]])
    dist = MetaActionDistribution(
        mean, torch.tensor([[0.4]]), torch.tensor(10.0), torch.tensor(5.0)
    )
    torch.testing.assert_close(dist.dirichlet.concentration, torch.tensor([[5.0, 3.0, 2.0]]))
    torch.testing.assert_close(dist.beta.concentration1, torch.tensor([2.0]))
    torch.testing.assert_close(dist.beta.concentration0, torch.tensor([3.0]))
