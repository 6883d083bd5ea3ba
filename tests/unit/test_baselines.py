"""Baselines: hand-computed weights, and all of them trade through the env + risk transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tensordict import TensorDict
from torchrl.envs.utils import ExplorationType, set_exploration_type

from mtquant.agents.baselines import (
    BASELINES,
    BuyAndHold,
    EqualWeight,
    FlatPPOPolicy,
    InverseVolatility,
    KellySpecialists,
    MACDTrend,
    RiskParity,
    TimeSeriesMomentum,
    rule_baselines,
)
from mtquant.agents.environments.multi_instrument_env import make_env
from mtquant.config import compose_config, to_object
from mtquant.errors import ConfigError
from mtquant.instruments import InstrumentUniverse
from mtquant.testing.random_walk import random_walk_features

CFG = to_object(compose_config("train", []))
UNIVERSE = InstrumentUniverse.from_config(CFG.instruments)


def td_with(vol: list[float], weights: list[float] | None = None) -> TensorDict:
    v = torch.tensor([vol])
    w = torch.zeros_like(v) if weights is None else torch.tensor([weights])
    return TensorDict({"vol": v, "weights": w}, batch_size=[1])


def test_equal_weight_is_gross_over_n_per_instrument() -> None:
    out = EqualWeight(gross=1.0)(td_with([0.01, 0.02, 0.04, 0.01]))
    assert out["target_weights"].tolist() == [[0.25, 0.25, 0.25, 0.25]]


def test_inverse_volatility_weights_are_proportional_to_one_over_vol() -> None:
    out = InverseVolatility(gross=1.0)(td_with([0.01, 0.02, 0.04, 0.01]))
    inv = torch.tensor([100.0, 50.0, 25.0, 100.0])
    assert torch.allclose(out["target_weights"][0], inv / inv.sum())


def test_buy_and_hold_buys_when_flat_then_resends_current_weights() -> None:
    assert BuyAndHold()(td_with([0.01] * 4))["target_weights"].tolist() == [[0.25] * 4]
    held = BuyAndHold()(td_with([0.01] * 4, [0.3, 0.2, 0.25, 0.26]))
    assert torch.equal(held["target_weights"], held["weights"])


def test_momentum_is_long_after_a_rise_and_short_after_a_fall_skipping_the_last_month() -> None:
    f = random_walk_features(UNIVERSE, n_days=300, seed=0)
    r = torch.zeros(300, 8, dtype=torch.float64)
    r[:, 0] = 0.001  # steady rise
    r[:, 1] = -0.001  # steady fall
    r[280:, 0] = -0.05  # last month crashes: must be ignored (skip month)
    f.returns = r
    mom = TimeSeriesMomentum(f, target_vol=0.01)
    td = TensorDict(
        {"vol": torch.full((1, 8), 0.01), "info": {"date_index": torch.tensor([299])}},
        batch_size=[1],
    )
    w = mom(td)["target_weights"][0]
    assert w[0].item() == pytest.approx(0.01 / (8 * 0.01)) and w[1].item() == pytest.approx(-0.125)
    assert w[2:].abs().sum().item() == 0.0  # no return: sign 0
    td["info", "date_index"] = torch.tensor([200])  # < 252 rows of history: flat
    assert mom(td)["target_weights"].abs().sum().item() == 0.0


@pytest.mark.parametrize("name", [*BASELINES.names(), "flat_ppo"])
def test_every_baseline_trades_through_the_env_with_the_risk_transform(name: str) -> None:
    f = random_walk_features(UNIVERSE, n_days=400, seed=1)  # past every baseline's warm-up
    env = make_env(CFG, f, (0, 400), batch_size=2, seed=0, start_rows=[330, 340])
    torch.manual_seed(0)
    dims = {s: m.shape[-1] for s, m in f.market.items()}
    policies = {
        **rule_baselines(CFG, f),
        "flat_ppo": FlatPPOPolicy(UNIVERSE.symbols, dims, UNIVERSE.specialist_index()).with_sizing(
            0.01, 3.0
        ),
    }
    with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
        ro = env.rollout(30, policies[name], break_when_any_done=False)
    assert ro["next", "info", "equity"].isfinite().all()
    assert ro["next", "info", "commission"].sum() + ro["next", "info", "spread_cost"].sum() > 0
    assert (ro["next", "risk", "executed_var"] <= CFG.risk.max_portfolio_var + 1e-6).all()
    if name == "buy_and_hold":  # units bought on day 1 are never changed
        assert ro["next", "info", "turnover"][:, 1:].abs().sum().item() == 0.0


def test_flat_ppo_log_probs_are_reproduced_by_evaluate_actions() -> None:
    f = random_walk_features(UNIVERSE, n_days=120, seed=2)
    env = make_env(CFG, f, (0, 120), batch_size=4, seed=0)
    torch.manual_seed(0)
    pol = FlatPPOPolicy(
        UNIVERSE.symbols, {s: m.shape[-1] for s, m in f.market.items()}, UNIVERSE.specialist_index()
    )
    td = pol(env.reset())
    assert td["action", "direction"].shape == (4, 8) and td["value"].shape == (4, 1)
    again = pol.evaluate_actions(td)
    assert torch.allclose(again["sample_log_prob"], td["sample_log_prob"])
    assert torch.allclose(td["log_prob", "specialists"].sum(-1), td["sample_log_prob"])


def test_baseline_registry_names_the_report_rows_and_refuses_unknown_names() -> None:
    f = random_walk_features(UNIVERSE, n_days=60, seed=1)
    assert BASELINES.names() == [
        "equal_weight", "inverse_vol", "ts_momentum", "macd_trend", "risk_parity", "buy_and_hold",
        "kelly_specialists",
    ]  # fmt: skip
    kinds = {n: type(p) for n, p in rule_baselines(CFG, f).items()}
    assert kinds == {"equal_weight": EqualWeight, "inverse_vol": InverseVolatility,
                     "ts_momentum": TimeSeriesMomentum, "macd_trend": MACDTrend,
                     "risk_parity": RiskParity, "buy_and_hold": BuyAndHold,
                     "kelly_specialists": KellySpecialists}  # fmt: skip
    with pytest.raises(ConfigError, match="baseline='min_variance': unknown"):
        BASELINES.get("min_variance")


def _macd_reference(returns: np.ndarray) -> np.ndarray:
    """Baz et al. (2015) with pandas, independently of the torch filters."""
    import pandas as pd

    index = pd.DataFrame(np.exp(np.log1p(returns).cumsum(0)))
    total = pd.DataFrame(0.0, index=index.index, columns=index.columns)
    for short, long in ((8, 24), (16, 48), (32, 96)):
        macd = index.ewm(alpha=1 / short, adjust=False).mean()
        macd -= index.ewm(alpha=1 / long, adjust=False).mean()
        q = macd / index.rolling(63).std()
        y = q / q.rolling(252).std()
        total += (y * np.exp(-(y**2) / 4) / 0.89).fillna(0.0)
    return (total / 3).to_numpy()


def test_macd_trend_matches_a_pandas_reference_and_is_causal() -> None:
    f = random_walk_features(UNIVERSE, n_days=700, seed=4)
    f.returns[600:, 0] = 0.004  # the last 100 days rise steadily: long
    f.returns[600:, 1] = -0.004  # and fall: short
    macd = MACDTrend(f, target_vol=0.01)
    np.testing.assert_allclose(
        macd.signal.numpy(), _macd_reference(f.returns.numpy()), rtol=1e-4, atol=1e-6
    )
    assert macd.signal[:313].abs().sum().item() == 0.0  # 63 + 252 - 2 rows of warm-up: flat
    assert macd.signal[699, 0].item() > 0.0 > macd.signal[699, 1].item()
    assert macd.signal.abs().max().item() < 0.97  # max of y exp(-y^2/4) / 0.89 is 0.964
    cut = MACDTrend(_truncated(f, 500), target_vol=0.01)  # no row sees a later return
    assert torch.equal(cut.signal, macd.signal[:500])
    td = TensorDict(
        {"vol": torch.full((1, 8), 0.02), "info": {"date_index": torch.tensor([600])}},
        batch_size=[1],
    )
    w = macd(td)["target_weights"][0]
    assert torch.allclose(w, macd.signal[600] * 0.01 / (8 * 0.02))


def _truncated(f, n_days: int):  # type: ignore[no-untyped-def]
    import dataclasses

    return dataclasses.replace(f, returns=f.returns[:n_days].clone())


def test_risk_parity_is_inverse_vol_scaled_to_the_annual_target_under_the_ewma_covariance() -> None:
    f = random_walk_features(UNIVERSE, n_days=60, seed=5)
    vol = torch.tensor([[0.01, 0.02, 0.005, 0.01, 0.015, 0.01, 0.012, 0.008]])
    cov = torch.diag(vol[0] ** 2) + 0.3 * torch.outer(vol[0], vol[0]) * (1 - torch.eye(8))
    f.ewma_cov = torch.stack([cov] * 60)
    td = TensorDict({"vol": vol, "info": {"date_index": torch.tensor([50])}}, batch_size=[1])
    w = RiskParity(f, annual_vol=0.10)(td)["target_weights"][0].double()
    ratio = w * vol[0].double()
    assert torch.allclose(ratio, ratio[0].expand(8))  # inverse-volatility legs
    book = (w @ cov.double() @ w).sqrt() * 252**0.5
    assert book.item() == pytest.approx(0.10, rel=1e-5)
    capped = RiskParity(f, annual_vol=10.0, max_weight=0.5)(td)["target_weights"]
    assert capped.max().item() == pytest.approx(0.5)


def test_kelly_baseline_splits_capital_by_capped_kelly_weights_of_trailing_sharpes() -> None:
    """Specialist 0's book drifts up, 1's down, 2's flat: all the budget Kelly allows to 0."""
    from mtquant.agents.allocation import kelly_allocation

    f = random_walk_features(UNIVERSE, n_days=400, seed=3)
    f.returns[:, 0] += 0.003  # EURUSD (forex) trends up
    f.returns[:, 3] -= 0.003  # XAUUSD (commodities) down
    kelly = KellySpecialists(f, UNIVERSE.specialist_index(), 0.01, 3.0, lookback=252)
    assert torch.allclose(kelly.allocation[100], torch.full((3,), 1 / 3))  # before a window
    row = 350
    books = f.returns[row - 251 : row + 1].double()
    idx = UNIVERSE.specialist_index()
    sector = torch.stack([books[:, idx == s].mean(1) for s in range(3)], 1)
    mean, sd = sector.mean(0), sector.std(0)
    expected = kelly_allocation((mean / sd * 252**0.5).numpy(), (sd * 252**0.5).numpy(), 0.6)
    np.testing.assert_allclose(kelly.allocation[row].numpy(), expected, rtol=1e-5)
    assert kelly.allocation[row, 0] == pytest.approx(0.6)  # capped at max_fraction
    td = TensorDict(
        {"vol": f.vol[row][None], ("info", "date_index"): torch.tensor([row])}, batch_size=[1]
    )
    w = kelly(td)["target_weights"][0]
    held = idx != 1  # commodities lost money over the window: Kelly gives them nothing
    assert (w[held] > 0).all() and (w[~held] == 0).all()
