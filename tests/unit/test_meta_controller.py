"""MetaController: shapes, simplex / unit-interval outputs, distributions, gradients, helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mtquant.agents.hierarchical.distributions import CONCENTRATION_FLOOR, MetaActionDistribution
from mtquant.agents.hierarchical.meta_controller import (
    MetaController,
    PortfolioSnapshot,
    build_meta_controller,
    kelly_allocation,
)
from mtquant.config.agents import AgentsConfig
from mtquant.errors import ConfigError, DataError
from mtquant.features.layout import PortfolioStateLayout


@pytest.mark.parametrize("batch", [1, 1024])
def test_forward_shapes_simplex_and_unit_interval(batch: int) -> None:
    torch.manual_seed(0)
    meta = MetaController().eval()
    allocation, appetite, value = meta(torch.randn(batch, 74))
    assert allocation.shape == (batch, 3)
    assert appetite.shape == (batch, 1)
    assert value.shape == (batch, 1)
    assert torch.allclose(allocation.sum(-1), torch.ones(batch), atol=1e-6)
    assert (allocation >= 0).all() and (appetite >= 0).all() and (appetite <= 1).all()


def test_plan_layers() -> None:
    meta = MetaController()
    kinds = [type(m).__name__ for m in meta.encoder]
    assert kinds == ["Linear", "ReLU", "LayerNorm", "Linear", "ReLU", "Dropout"]
    assert meta.encoder[0].in_features == 74 and meta.encoder[0].out_features == 256
    assert meta.encoder[3].out_features == 128 and meta.encoder[5].p == 0.2


@pytest.mark.parametrize("batch", [1, 1024])
def test_samples_on_simplex_and_log_prob_entropy_finite(batch: int) -> None:
    torch.manual_seed(1)
    meta = MetaController().eval()
    dist, _ = meta.distribution(torch.randn(batch, 74))
    allocation, appetite = dist.sample()
    assert allocation.shape == (batch, 3) and appetite.shape == (batch, 1)
    assert torch.allclose(allocation.sum(-1), torch.ones(batch), atol=1e-5)
    assert ((appetite > 0) & (appetite < 1)).all()
    assert torch.isfinite(dist.log_prob(allocation, appetite)).all()
    assert torch.isfinite(dist.entropy()).all()
    assert dist.log_prob(allocation, appetite).shape == (batch,)


def test_distribution_means_equal_heads_analytically_and_by_sampling() -> None:
    torch.manual_seed(2)
    meta = MetaController().eval()
    state = torch.randn(4, 74)
    allocation, appetite, _ = meta(state)
    dist, _ = meta.distribution(state)
    torch.testing.assert_close(dist.dirichlet.mean, allocation)
    torch.testing.assert_close(dist.beta.mean, appetite.squeeze(-1))
    draws = [dist.sample() for _ in range(4000)]
    alloc_mc = torch.stack([d[0] for d in draws]).mean(0)
    app_mc = torch.stack([d[1] for d in draws]).mean(0)
    assert torch.allclose(alloc_mc, allocation, atol=0.01)
    assert torch.allclose(app_mc, appetite, atol=0.01)


def test_log_prob_finite_at_simplex_corner() -> None:
    mean = torch.tensor([[1.0 - 2e-9, 1e-9, 1e-9]])
    dist = MetaActionDistribution(
        mean, torch.tensor([[0.999999]]), torch.tensor(20.0), torch.tensor(10.0)
    )
    assert dist.dirichlet.concentration.min() >= CONCENTRATION_FLOOR
    corner = torch.tensor([[1.0, 0.0, 0.0]])
    assert torch.isfinite(dist.log_prob(corner, torch.tensor([[1.0]]))).all()


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(3)
    meta = MetaController()
    state = torch.randn(16, 74)
    allocation, appetite, value = meta(state)
    dist, _ = meta.distribution(state)
    a, r = dist.sample()
    total = (
        allocation.sum()
        + appetite.sum()
        + value.sum()
        + dist.log_prob(a, r).sum()
        + dist.entropy().sum()
    )
    total.backward()
    for name, p in meta.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_same_seed_same_outputs() -> None:
    def run() -> tuple[torch.Tensor, ...]:
        torch.manual_seed(7)
        meta = MetaController().eval()
        dist, value = meta.distribution(torch.ones(3, 74))
        return (*dist.sample(), value)

    for x, y in zip(run(), run(), strict=True):
        assert torch.equal(x, y)


def test_portfolio_state_packs_the_layout() -> None:
    meta = MetaController()
    rets = torch.tensor([0.01, -0.02, 0.03])
    corr = torch.eye(8)
    corr[0, 1] = corr[1, 0] = 0.5
    corr[6, 7] = corr[7, 6] = -0.25
    snap = PortfolioSnapshot(
        returns=rets,
        equity=torch.tensor([100.0, 120.0, 90.0]),
        specialist_metrics=torch.arange(9.0).reshape(3, 3),
        correlations=corr,
        macro=torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]),
    )
    state = meta.get_portfolio_state(snap, ["forex", "commodities", "equity"])
    lay = PortfolioStateLayout(8, 3)
    assert state.shape == (74,)
    # percent, as the environment's state (one builder): 30 returns, zero-padded
    assert (
        torch.allclose(state[lay.returns][-3:], rets * 100) and (state[lay.returns][:-3] == 0).all()
    )
    padded = [0.0] * 27 + [1.0, -2.0, 3.0]
    assert state[lay.volatility] == pytest.approx(float(np.std(padded)), rel=1e-6)
    assert state[lay.drawdown] == pytest.approx(0.25)  # 1 - 90 / 120
    assert state[lay.correlations][0] == pytest.approx(0.5)  # (0, 1)
    assert state[lay.correlations][-1] == pytest.approx(-0.25)  # (6, 7)
    assert torch.equal(state[lay.specialist_metrics], torch.arange(9.0))
    assert torch.equal(state[lay.macro], torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))


def test_portfolio_state_rejects_wrong_metric_shape() -> None:
    snap = PortfolioSnapshot(
        torch.zeros(30), torch.ones(3), torch.zeros(2, 3), torch.eye(8), torch.zeros(5)
    )
    with pytest.raises(DataError, match="specialist_metrics"):
        MetaController().get_portfolio_state(snap, ["forex", "commodities", "equity"])


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        ([0.01] * 10, "bull"),  # 1.01^10 - 1 = 10.5 % > 5 %, vol 0
        ([-0.01] * 10, "bear"),  # 0.99^10 - 1 = -9.6 %
        ([0.001, -0.001] * 5, "neutral"),  # vol = 0.00105 * sqrt(252) = 1.7 %, drift ~ 0
        ([0.03, -0.03] * 5, "volatile"),  # vol = 0.0316 * sqrt(252) = 50 % > 30 %
    ],
)
def test_market_regime_rule(returns: list[float], expected: str) -> None:
    assert MetaController().detect_market_regime(torch.tensor(returns)) == expected


def test_kelly_proportional_to_sharpe_over_vol() -> None:
    # raw = [1/0.1, 0.5/0.1, 0] = [10, 5, 0] -> [2/3, 1/3, 0]; cap 0.6 -> [0.6, 0.4, 0]
    w = MetaController().calculate_kelly_allocation(
        [1.0, 0.5, -0.3], [0.1, 0.1, 0.2], max_fraction=0.6
    )
    np.testing.assert_allclose(w, [0.6, 0.4, 0.0])
    np.testing.assert_allclose(
        kelly_allocation([1.0, 0.5, -0.3], [0.1, 0.1, 0.2], 1.0), [2 / 3, 1 / 3, 0]
    )


def test_kelly_all_negative_equal_and_single_positive_spreads_excess() -> None:
    np.testing.assert_allclose(kelly_allocation([-1.0, 0.0, -0.2]), [1 / 3] * 3)
    w = kelly_allocation([2.0, 0.0, 0.0], max_fraction=0.5)
    np.testing.assert_allclose(w, [0.5, 0.25, 0.25])
    assert (w >= 0).all() and math.isclose(w.sum(), 1.0)


def test_kelly_rejects_impossible_cap() -> None:
    with pytest.raises(ConfigError, match="max_fraction"):
        kelly_allocation([1.0, 1.0, 1.0], max_fraction=0.2)


def test_build_from_config_derives_or_checks_state_dim() -> None:
    cfg = AgentsConfig()
    assert build_meta_controller(cfg, 8, 3).state_dim == 74
    assert build_meta_controller(cfg, 3, 1).state_dim == 43
    cfg.meta_controller.state_dim = 74
    with pytest.raises(ConfigError, match="state_dim=74: expected 43"):
        build_meta_controller(cfg, 3, 1)


def test_snapshot_state_equals_the_environments_state_for_the_same_account() -> None:
    """MetaController.get_portfolio_state and the env's observation build the same vector."""
    from mtquant.agents.environments.observations import FeatureTape, observe
    from mtquant.config import compose_config, to_object
    from mtquant.execution.kernel import KernelState, specialist_metrics
    from mtquant.instruments import InstrumentUniverse
    from mtquant.testing.random_walk import random_walk_features

    cfg = to_object(compose_config("train"))
    universe = InstrumentUniverse.from_config(cfg.instruments)
    features = random_walk_features(universe, n_days=120, seed=4)
    g = torch.Generator().manual_seed(1)
    state = KernelState.initial(torch.tensor([90]), 8, 3, 100_000.0)
    state.returns = 0.01 * torch.randn(1, 30, generator=g, dtype=torch.float64)
    state.spec_m1 = 0.001 * torch.randn(1, 3, generator=g, dtype=torch.float64)
    state.spec_m2 = state.spec_m1.square() + 1e-5
    state.spec_hit = torch.rand(1, 3, generator=g, dtype=torch.float64)
    state.equity = torch.tensor([95_000.0], dtype=torch.float64)
    env_state = observe(state, FeatureTape.build(features, universe, "cpu"))["meta_state"][0]
    cov = features.cov[90].double()
    sd = cov.diagonal().sqrt()
    snap = PortfolioSnapshot(
        returns=state.returns[0],
        equity=torch.tensor([100_000.0, 95_000.0]),
        specialist_metrics=specialist_metrics(state).reshape(3, 3),
        correlations=cov / sd[:, None] / sd[None, :],
        macro=features.macro[90],
    )
    built = MetaController().get_portfolio_state(snap, list(universe.specialists))
    torch.testing.assert_close(built, env_state, rtol=1e-6, atol=1e-6)
