"""Specialists: network shapes, batched path = dict path, gradients, confidence, domain methods."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mtquant.agents.hierarchical.base_specialist import BaseSpecialist
from mtquant.agents.hierarchical.commodities_specialist import CommoditiesSpecialist
from mtquant.agents.hierarchical.equity_specialist import EquitySpecialist
from mtquant.agents.hierarchical.forex_specialist import ForexSpecialist
from mtquant.agents.hierarchical.schedules import days_since_quarter_end
from mtquant.data.market_data import FIELDS, MarketData, Provenance
from mtquant.errors import ConfigError, DataError
from mtquant.features.calendar import fomc_rule_dates

CLASSES = [ForexSpecialist, CommoditiesSpecialist, EquitySpecialist]


def market_data(closes: dict[str, np.ndarray], start: str = "2024-01-01") -> MarketData:
    """Close-only bars (open = high = low = close) on business days."""
    symbols = list(closes)
    c = torch.tensor(np.stack([closes[s] for s in symbols], 1), dtype=torch.float64)
    t_len = c.shape[0]
    values = torch.zeros(t_len, len(symbols), len(FIELDS), dtype=torch.float64)
    for f in ("open", "high", "low", "close"):
        values[..., FIELDS.index(f)] = c
    return MarketData(
        dates=pd.bdate_range(start, periods=t_len),
        symbols=symbols,
        values=values,
        mask=torch.ones(t_len, len(symbols), dtype=torch.bool),
        has_range=torch.zeros(len(symbols), dtype=torch.bool),
        has_volume=torch.zeros(len(symbols), dtype=torch.bool),
        has_spread=torch.zeros(len(symbols), dtype=torch.bool),
        provenance={s: Provenance("synthetic", "test") for s in symbols},
    )


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("batch", [1, 1024])
def test_forward_shapes_and_probabilities(cls: type[BaseSpecialist], batch: int) -> None:
    torch.manual_seed(0)
    sp = cls()
    obs = {s: torch.randn(batch, 50) for s in sp.get_instruments()}
    probs, value = sp(torch.randn(batch, sp.market_features_dim), obs, allocation=0.4)
    assert list(probs) == sp.get_instruments()
    for p in probs.values():
        assert p.shape == (batch, 3)
        assert torch.allclose(p.sum(-1), torch.ones(batch), atol=1e-6)
    assert value.shape == (batch, 1)


def test_batched_logits_equal_per_head_modules() -> None:
    torch.manual_seed(1)
    sp = EquitySpecialist()
    market, obs, alloc = torch.randn(5, 7), torch.randn(5, 3, 50), torch.rand(5, 1)
    logits, value = sp.logits(market, obs, alloc)
    enc = sp.encoder(market)
    for k, s in enumerate(sp.get_instruments()):
        expected = sp.instrument_heads[s](torch.cat([enc, obs[:, k], alloc], -1))
        torch.testing.assert_close(logits[:, k], expected)
    torch.testing.assert_close(value, sp.value_head(torch.cat([enc, alloc], -1)))


def test_heads_share_the_first_layer_and_keep_their_own_output_layer() -> None:
    sp = ForexSpecialist()
    heads = [sp.instrument_heads[s] for s in sp.get_instruments()]
    assert heads[0][0] is heads[1][0] is heads[2][0]
    assert heads[0][3] is not heads[1][3]
    # 8*256+256 + 256*128+128 (encoder) + 179*64+64 (one trunk) + 3 * (64*3+3) + 130 (value: 129 in, 1 out)
    assert sum(p.numel() for p in sp.parameters()) == 2304 + 32896 + 11520 + 585 + 130
    separate = ForexSpecialist(shared_trunk=False)
    assert separate.instrument_heads["EURUSD"][0] is not separate.instrument_heads["GBPUSD"][0]
    assert sum(p.numel() for p in separate.parameters()) == 2304 + 32896 + 3 * 11520 + 585 + 130


def test_allocation_is_an_input() -> None:
    torch.manual_seed(2)
    sp = ForexSpecialist()
    market, obs = torch.randn(2, 8), torch.randn(2, 3, 50)
    low, _ = sp.logits(market, obs, torch.full((2, 1), 0.1))
    high, _ = sp.logits(market, obs, torch.full((2, 1), 0.9))
    assert not torch.allclose(low, high)


@pytest.mark.parametrize("cls", CLASSES)
def test_gradients_reach_every_parameter(cls: type[BaseSpecialist]) -> None:
    torch.manual_seed(3)
    sp = cls()
    logits, value = sp.logits(
        torch.randn(8, sp.market_features_dim),
        torch.randn(8, sp.instrument_count, 50),
        torch.rand(8, 1),
    )
    (logits.sum() + (logits.log_softmax(-1) ** 2).sum() + value.sum()).backward()
    for name, p in sp.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_same_seed_same_outputs() -> None:
    def run() -> torch.Tensor:
        torch.manual_seed(11)
        sp = CommoditiesSpecialist()
        return sp.logits(torch.ones(2, 6), torch.ones(2, 2, 50), torch.ones(2, 1))[0]

    assert torch.equal(run(), run())


def test_properties_and_missing_observation() -> None:
    sp = CommoditiesSpecialist()
    assert sp.specialist_type == "commodities" and sp.instrument_count == 2
    assert isinstance(sp.instrument_heads, torch.nn.ModuleDict)
    with pytest.raises(DataError, match="WTIUSD"):
        sp(torch.zeros(1, 6), {"XAUUSD": torch.zeros(1, 50)}, 0.5)


def test_confidence_is_one_minus_normalised_entropy() -> None:
    sp = ForexSpecialist()
    certain = torch.tensor([[1.0, 0.0, 0.0]])
    uniform = torch.full((1, 3), 1 / 3)
    assert sp.calculate_confidence({"EURUSD": certain, "GBPUSD": certain}) == pytest.approx(1.0)
    assert sp.calculate_confidence({"EURUSD": uniform}) == pytest.approx(0.0, abs=1e-6)
    # p = (0.5, 0.5, 0): H = ln 2, normalised ln2/ln3 = 0.6309; mean with a certain head
    half = torch.tensor([[0.5, 0.5, 0.0]])
    expected = 1 - (math.log(2) / math.log(3)) / 2
    assert sp.calculate_confidence({"EURUSD": half, "GBPUSD": certain}) == pytest.approx(
        expected, rel=1e-5
    )


def test_normalize_and_anomalies() -> None:
    x = torch.zeros(30, 2)
    x[:, 0] = torch.arange(30.0)
    x[5, 1] = 100.0
    z = BaseSpecialist.normalize_features(x)
    assert torch.allclose(z[:, 0].mean(), torch.zeros((), dtype=z.dtype), atol=1e-9)
    assert z[5, 1] == 5.0  # the spike's z of 5.39 (ddof=0) is clipped as the pipeline clips it
    assert torch.equal(
        BaseSpecialist.normalize_features(torch.ones(4, 1)), torch.zeros(4, 1).double()
    )
    flags = BaseSpecialist.detect_anomalies(x)
    # column 1: one spike of 100 among 29 zeros: mean 3.33, std 18.26 -> z = 5.29 > 4
    assert flags[5, 1] and flags.sum() == 1
    x[7, 0] = float("nan")
    assert BaseSpecialist.detect_anomalies(x)[7, 0]


# ---------------------------------------------------------------- domain methods on hand-made rows
def fx_row(**values: float) -> torch.Tensor:
    from mtquant.features.domain import FOREX_FEATURES

    return torch.tensor([[values.get(n, 0.0) for n in FOREX_FEATURES]], dtype=torch.float64)


@pytest.mark.parametrize(
    ("corr", "mom", "expected"),
    [
        (0.8, 0.02, "risk-off"),
        (0.8, -0.02, "risk-on"),
        (0.3, 0.05, "neutral"),
        (0.6, 0.0, "neutral"),
    ],
)
def test_forex_correlation_regime_rule(corr: float, mom: float, expected: str) -> None:
    row = fx_row(fx_correlation_regime=corr, dollar_momentum_20=mom)
    assert ForexSpecialist().detect_correlation_regime(row) == expected


def test_forex_carry_signal_reads_the_feature_and_refuses_warm_up() -> None:
    assert ForexSpecialist().get_carry_signal(fx_row(carry_signal=-0.42)) == pytest.approx(-0.42)
    with pytest.raises(DataError, match="warm-up"):
        ForexSpecialist().get_carry_signal(fx_row(carry_signal=float("nan")))


def test_forex_methods_from_market_data() -> None:
    # EURUSD and GBPUSD fall 0.2 %/day in lockstep, USDJPY rises: the dollar strengthens across
    # the board, USD-oriented returns are perfectly correlated -> risk-off; USDJPY drifts up -> carry > 0
    t = np.arange(300, dtype=np.float64)
    wiggle = 0.001 * np.sin(t)
    data = market_data(
        {
            "EURUSD": 1.1 * np.exp(-0.002 * t + wiggle),
            "GBPUSD": 1.3 * np.exp(-0.002 * t + wiggle),
            "USDJPY": 110 * np.exp(0.002 * t - wiggle),
        }
    )
    fx = ForexSpecialist()
    assert fx.detect_correlation_regime(data) == "risk-off"
    assert 0 < fx.get_carry_signal(data) <= 1


def test_central_bank_schedule_uses_fomc_rule_and_user_dates() -> None:
    # rule: first Wednesday on or after 15 March 2024 = 20 March 2024 (the actual decision day)
    assert pd.Timestamp("2024-03-20") in fomc_rule_dates(2024, 2024)
    fx = ForexSpecialist()
    assert fx.check_central_bank_schedule("2024-03-14") == {"FED": True}
    assert fx.check_central_bank_schedule("2024-03-01") == {"FED": False}
    flags = fx.check_central_bank_schedule("2024-03-01", meetings={"ECB": ["2024-03-07"]})
    assert flags == {"FED": False, "ECB": True}


def com_row(**values: float) -> torch.Tensor:
    from mtquant.features.domain import COMMODITIES_FEATURES

    return torch.tensor([[values.get(n, 0.0) for n in COMMODITIES_FEATURES]], dtype=torch.float64)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (-0.2, "deflation"),
        (0.05, "stable"),
        (0.1, "stable"),
        (0.3, "rising"),
        (0.7, "hyperinflation"),
    ],
)
def test_inflation_regime_thresholds(x: float, expected: str) -> None:
    assert CommoditiesSpecialist().detect_inflation_regime(com_row(inflation_proxy=x)) == expected


def test_safe_haven_demand_formula() -> None:
    sp = CommoditiesSpecialist()
    # 0.5 * min(1, 0.025 / 0.05) + 0.25 * (1 + 0.2) = 0.25 + 0.3 = 0.55
    assert sp.get_safe_haven_demand(
        com_row(fear_proxy=0.025, gold_dollar_corr=0.2)
    ) == pytest.approx(0.55)
    assert sp.get_safe_haven_demand(com_row(fear_proxy=0.2, gold_dollar_corr=1.0)) == pytest.approx(
        1.0
    )
    assert sp.get_safe_haven_demand(
        com_row(fear_proxy=0.0, gold_dollar_corr=-1.0)
    ) == pytest.approx(0.0)


def test_inflation_regime_from_market_data() -> None:
    # gold and oil both +0.1 %/day for 300 days: 252-day log change of the basket = 0.252 -> rising
    t = np.arange(300, dtype=np.float64)
    data = market_data({"XAUUSD": 2000 * np.exp(0.001 * t), "WTIUSD": 80 * np.exp(0.001 * t)})
    assert CommoditiesSpecialist().detect_inflation_regime(data) == "rising"


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2024-05-20", True),
        ("2024-06-07", True),
        ("2024-06-09", False),
        ("2024-11-20", True),
        ("2024-03-01", False),
        ("2024-12-30", False),
    ],
)
def test_opec_schedule_rule(day: str, expected: bool) -> None:
    assert CommoditiesSpecialist().check_opec_schedule(day) is expected


def test_sector_rotation_rule() -> None:
    eq = EquitySpecialist()
    t = np.arange(61, dtype=np.float64)
    wiggle = 0.0005 * np.sin(t)
    spx = 5000 * np.exp(0.0005 * t + wiggle)
    # NAS100 +0.1 %/day, US30 0 %/day over 60 days: rs = 0.06 > 0.03 -> growth
    growth = market_data(
        {
            "SPX500": spx,
            "NAS100": 18000 * np.exp(0.001 * t + wiggle),
            "US30": 39000 * np.exp(wiggle),
        }
    )
    assert eq.detect_sector_rotation(growth) == "growth"
    value = market_data(
        {
            "SPX500": spx,
            "NAS100": 18000 * np.exp(wiggle),
            "US30": 39000 * np.exp(0.001 * t + wiggle),
        }
    )
    assert eq.detect_sector_rotation(value) == "value"
    flat = market_data(
        {
            "SPX500": spx,
            "NAS100": 18000 * np.exp(0.0005 * t + wiggle),
            "US30": 39000 * np.exp(0.0005 * t + wiggle),
        }
    )
    assert eq.detect_sector_rotation(flat) == "cyclical"
    # daily moves of +-3 % alternating around a falling trend: vol ~ 48 % > 25 %, market down
    swing = 0.03 * (-1.0) ** t - 0.002 * t
    crash = market_data(
        {
            "SPX500": 5000 * np.exp(swing),
            "NAS100": 18000 * np.exp(swing),
            "US30": 39000 * np.exp(swing),
        }
    )
    assert eq.detect_sector_rotation(crash) == "defensive"
    with pytest.raises(DataError, match="61 days"):
        eq.detect_sector_rotation(
            market_data({"SPX500": spx[:30], "NAS100": spx[:30], "US30": spx[:30]})
        )


def test_sector_rotation_needs_nas_and_dow() -> None:
    with pytest.raises(ConfigError, match="NAS100"):
        EquitySpecialist(instruments=["SPX500"]).detect_sector_rotation(
            market_data({"SPX500": np.ones(70)})
        )


def test_fear_greed_reads_and_clamps() -> None:
    from mtquant.features.domain import EQUITY_FEATURES

    row = torch.zeros(1, len(EQUITY_FEATURES), dtype=torch.float64)
    row[0, EQUITY_FEATURES.index("fear_greed")] = 73.5
    assert EquitySpecialist().get_fear_greed_index(row) == pytest.approx(73.5)


@pytest.mark.parametrize(
    ("day", "in_season", "peak", "this_week"),
    [
        ("2024-04-10", False, False, True),  # 10 days after 31 Mar; the week reaches day 16
        ("2024-04-22", True, True, True),  # 22 days
        ("2024-05-12", True, False, True),  # 42 days
        ("2024-05-13", False, False, False),  # 43 days, the week 43..49
        ("2024-07-08", False, False, True),  # 8 days after 30 Jun; day 14 = 14 July is in the week
    ],
)
def test_earnings_calendar_rule(day: str, in_season: bool, peak: bool, this_week: bool) -> None:
    flags = EquitySpecialist().check_earnings_calendar(day)
    assert flags["in_season"] is in_season and flags["peak"] is peak
    assert flags["this_week"] is this_week


def test_days_since_quarter_end() -> None:
    assert days_since_quarter_end("2024-03-31") == 0
    assert days_since_quarter_end("2024-04-14") == 14
    assert days_since_quarter_end("2024-01-01") == 1
