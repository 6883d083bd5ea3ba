"""PortfolioRiskTransform on a minimal TorchRL env with the project's keys."""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModule
from torchrl.data import Binary, Bounded, Composite, Unbounded
from torchrl.envs import EnvBase, TransformedEnv
from torchrl.envs.utils import check_env_specs

from mtquant.config.risk import RiskConfig
from mtquant.risk_management.guard import GuardRules
from mtquant.risk_management.limits import RiskLimits, enforce_limits
from mtquant.risk_management.transform import PortfolioRiskTransform

B, N = 4, 3


class BookEnv(EnvBase):
    """Observations ``cov [B, N, N]`` and ``weights [B, N]``; action ``target_weights [B, N]``;
    the held weights become the executed targets, and every received action is recorded."""

    def __init__(self, cov: torch.Tensor) -> None:
        super().__init__(batch_size=torch.Size([B]))
        self.cov = cov
        self.received: list[torch.Tensor] = []
        self.observation_spec = Composite(
            cov=Unbounded((B, N, N)),
            weights=Unbounded((B, N)),
            equity=Unbounded((B, 1), dtype=torch.float64),
            tradable=Binary(shape=(B, N), dtype=torch.bool),
            correlation_regime=Bounded(0, 2, shape=(B,), dtype=torch.long),
            shape=(B,),
        )
        self.full_action_spec = Composite(target_weights=Unbounded((B, N)), shape=(B,))
        self.reward_spec = Unbounded((B, 1))

    def _market(self) -> dict[str, torch.Tensor]:
        return {
            "cov": self.cov.clone(),
            "equity": torch.full((B, 1), 100_000.0, dtype=torch.float64),
            "tradable": torch.ones(B, N, dtype=torch.bool),
            "correlation_regime": torch.zeros(B, dtype=torch.long),
        }

    def _reset(self, tensordict: TensorDictBase | None) -> TensorDictBase:
        return TensorDict(weights=torch.zeros(B, N), **self._market(), batch_size=[B])

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        w = tensordict["target_weights"]
        self.received.append(w.clone())
        return TensorDict(
            weights=w.clone(),
            reward=torch.zeros(B, 1),
            done=torch.zeros(B, 1, dtype=torch.bool),
            **self._market(),
            batch_size=[B],
        )

    def _set_seed(self, seed: int | None) -> None:
        return None


def _cov() -> torch.Tensor:
    rho = torch.tensor([[1.0, 0.9, 0.0], [0.9, 1.0, 0.2], [0.0, 0.2, 1.0]])
    sd = torch.tensor([0.01, 0.012, 0.02])
    return (rho * sd[:, None] * sd[None, :]).expand(B, N, N).clone()


def _limits() -> RiskLimits:
    return RiskLimits(
        max_portfolio_var=0.02,
        confidence=0.95,
        max_correlation_exposure=0.7,
        max_sector_allocation=0.5,
        max_gross_leverage=3.0,
        max_position_weight=1.5,
        max_margin_usage=0.5,
        sector_index=torch.tensor([0, 0, 1]),
        margin_rate=torch.tensor([0.0333, 0.0333, 0.05]),
    )


PROPOSED = torch.tensor([[0.5, 0.8, 0.3], [3.0, 0.0, 0.0], [0.1, -0.1, 0.05], [0.0, 0.0, 0.0]])


RULES = GuardRules.from_config(RiskConfig(breaker_on_correlation_spike=False))


def _env() -> TransformedEnv:
    return TransformedEnv(BookEnv(_cov()), PortfolioRiskTransform(_limits(), RULES))


def test_transformed_minimal_env_passes_check_env_specs() -> None:
    check_env_specs(_env())


def test_base_env_receives_compliant_weights_and_policy_action_is_kept() -> None:
    env = _env()
    policy = TensorDictModule(
        lambda w: PROPOSED.clone(), in_keys=["weights"], out_keys=["target_weights"]
    )
    td = env.rollout(2, policy=policy)
    # limits are enforced in float64; the base env receives the book in its action dtype
    expected, diag = enforce_limits(
        PROPOSED.double(), _cov().double(), _limits().to("cpu", torch.float64)
    )
    for received in env.base_env.received:
        assert received.dtype == PROPOSED.dtype
        torch.testing.assert_close(received, expected.to(PROPOSED.dtype))
    # the rollout keeps the policy's own sample (its log-prob is untouched)
    torch.testing.assert_close(td["target_weights"][:, 0], PROPOSED)
    risk = td["next", "risk"][:, 0]
    torch.testing.assert_close(risk["executed_weights"], expected)
    torch.testing.assert_close(risk["proposed_var"], diag.proposed_var)
    torch.testing.assert_close(risk["executed_var"], diag.executed_var)
    torch.testing.assert_close(risk["scale"], diag.scale)
    assert risk["binding"].tolist() == diag.binding.tolist()
    # book 0 drops its correlated leg, book 1 is clipped by sector, book 2 is compliant
    assert expected[0, 0].item() == 0.0
    assert risk["binding"][2].item() == 0 and torch.equal(expected[2], PROPOSED[2])
    assert risk["executed_var"].dtype == torch.float64
    assert (risk["executed_var"] <= 0.02 * (1 + 1e-9)).all()
    assert (risk["correlation_exposure"] <= 0.7 + 1e-6).all()


def test_reset_writes_neutral_risk_entries() -> None:
    td = _env().reset()
    assert td["risk", "scale"].tolist() == [1.0] * B
    assert td["risk", "binding"].dtype == torch.int64
    assert td["risk", "executed_weights"].shape == (B, N)
    assert float(td["risk", "proposed_var"].abs().sum()) == 0.0
