"""Domain features of the specialists, macro proxies and calendar rules."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from test_features_fixtures import make_market_data

from mtquant.features import (
    COMMODITIES_FEATURES,
    DOMAIN_FEATURES,
    EQUITY_FEATURES,
    FOREX_FEATURES,
    commodities_features,
    equity_features,
    forex_features,
)
from mtquant.features.calendar import (
    days_to_fomc_estimate,
    earnings_season_phase,
    fomc_rule_dates,
    month_end_flag,
)
from mtquant.features.domain import DOMAIN_LOOKBACK, domain_notes, equity_breadth
from mtquant.features.macro import MACRO_NAMES, macro_features
from mtquant.features.proxies import dollar_index_proxy

ALL = make_market_data(400, seed=4)
FX_ONLY = make_market_data(400, symbols=["EURUSD", "GBPUSD", "USDJPY"], seed=4)


def test_domain_registry_names_and_widths() -> None:
    assert (len(FOREX_FEATURES), len(COMMODITIES_FEATURES), len(EQUITY_FEATURES)) == (8, 6, 7)
    assert DOMAIN_FEATURES["forex"] == (FOREX_FEATURES, forex_features)
    assert DOMAIN_FEATURES["commodities"] == (COMMODITIES_FEATURES, commodities_features)
    assert DOMAIN_FEATURES["equity"] == (EQUITY_FEATURES, equity_features)
    for names, fn in DOMAIN_FEATURES.values():
        out = fn(ALL)
        assert out.shape == (400, len(names)) and out.dtype == torch.float64
        assert torch.isfinite(out[DOMAIN_LOOKBACK:]).all()


def test_dollar_index_proxy_of_three_given_rates() -> None:
    rates = torch.tensor([[1.20, 1.50, 100.0], [1.10, 1.40, 110.0]], dtype=torch.float64)
    out = dollar_index_proxy(rates, ["EURUSD", "GBPUSD", "USDJPY"])
    total = 0.576 + 0.119 + 0.136
    expected = (
        100.0
        * (1.10 / 1.20) ** (-0.576 / total)
        * (1.40 / 1.50) ** (-0.119 / total)
        * (110.0 / 100.0) ** (0.136 / total)
    )
    assert out[0].item() == pytest.approx(100.0)
    assert out[1].item() == pytest.approx(expected, rel=1e-12)
    assert out[1].item() > 100.0  # EUR and GBP fell, USD rose against JPY: a stronger dollar


def test_bounded_domain_features_stay_in_range() -> None:
    fx, eq = forex_features(ALL)[DOMAIN_LOOKBACK:], equity_features(ALL)[DOMAIN_LOOKBACK:]
    carry = fx[:, FOREX_FEATURES.index("carry_signal")]
    assert carry.abs().max() <= 1.0 and carry.std() > 0
    greed = eq[:, EQUITY_FEATURES.index("fear_greed")]
    assert greed.min() >= 0.0 and greed.max() <= 100.0 and greed.std() > 0
    corr = fx[:, FOREX_FEATURES.index("fx_correlation_regime")]
    assert corr.abs().max() <= 1.0


def test_breadth_is_the_fraction_of_indices_above_their_50_day_mean() -> None:
    b = equity_breadth(ALL)
    assert b is not None and torch.isnan(b[:49]).all()
    assert set((b[49:] * 3).round().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    closes = ALL.close[:, 5:8]
    above = (closes[60] > closes[11:61].mean(dim=0)).double().mean()
    assert b[60].item() == pytest.approx(above.item())


def test_forex_only_data_gives_neutral_commodity_and_equity_components_with_notes() -> None:
    com, eq = commodities_features(FX_ONLY), equity_features(FX_ONLY)
    for name in (
        "inflation_proxy",
        "fear_proxy",
        "oil_supply_demand",
        "commodity_index",
        "gold_dollar_corr",
    ):
        assert torch.all(com[:, COMMODITIES_FEATURES.index(name)] == 0)
    assert torch.all(eq[:, EQUITY_FEATURES.index("fear_greed")] == 50.0)
    assert torch.all(eq[:, EQUITY_FEATURES.index("valuation_proxy")] == 0)
    # risk_on_off still reads JPY strength; calendar features are always real
    assert eq[DOMAIN_LOOKBACK:, EQUITY_FEATURES.index("risk_on_off")].std() > 0
    assert com[:, COMMODITIES_FEATURES.index("oil_seasonality")].std() > 0
    notes = domain_notes(FX_ONLY)
    assert any("XAUUSD/WTIUSD" in n for n in notes) and any("equity" in n for n in notes)
    assert forex_features(FX_ONLY)[DOMAIN_LOOKBACK:].std(dim=0).min() > 0
    assert domain_notes(ALL) == []


def test_equity_only_data_gives_neutral_forex_components() -> None:
    eq_only = make_market_data(400, symbols=["SPX500", "NAS100", "US30"], seed=4)
    fx = forex_features(eq_only)
    for name in FOREX_FEATURES[:6]:
        assert torch.all(fx[:, FOREX_FEATURES.index(name)] == 0)
    assert macro_features(eq_only)[DOMAIN_LOOKBACK:, 0].std() > 0  # VIX proxy from equity


def test_macro_proxies_reuse_the_domain_features() -> None:
    m = macro_features(ALL)
    assert m.shape == (400, 5) and len(MACRO_NAMES) == 5
    fx = forex_features(ALL)
    rows = slice(DOMAIN_LOOKBACK, None)
    assert torch.equal(m[rows, 1], fx[rows, FOREX_FEATURES.index("dollar_index_proxy")])
    assert torch.equal(m[rows, 2], fx[rows, FOREX_FEATURES.index("carry_proxy")])


def test_fomc_rule_matches_the_published_2018_decision_days_within_a_week() -> None:
    published_2018 = pd.DatetimeIndex(
        [
            "2018-01-31",
            "2018-03-21",
            "2018-05-02",
            "2018-06-13",
            "2018-08-01",
            "2018-09-26",
            "2018-11-08",
            "2018-12-19",
        ]
    )
    rule = fomc_rule_dates(2018, 2018)
    gaps = (published_2018 - rule).days
    assert list(gaps[:5]) == [0, 0, 0, 0, 0]
    assert max(abs(g) for g in gaps) <= 8  # Nov 2018 met on a Thursday, after the election
    days = days_to_fomc_estimate(pd.DatetimeIndex(["2018-01-29", "2018-01-31", "2018-02-01"]))
    assert days.tolist() == [2.0, 0.0, 48.0]  # Feb 1 -> Mar 21


def test_calendar_flags_on_hand_picked_dates() -> None:
    d = pd.DatetimeIndex(["2018-03-30", "2018-04-27", "2018-04-30", "2018-04-11", "2018-06-01"])
    assert month_end_flag(d).tolist() == [1.0, 0.0, 0.5, 0.0, 0.0]
    phase = earnings_season_phase(d)
    assert phase[3].item() == pytest.approx(math.sin(math.pi / 42))  # 11 days after Q1 end
    assert phase[4].item() == 0.0  # 62 days after the quarter end: season over
