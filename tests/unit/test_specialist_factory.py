"""SpecialistRegistry and build_specialists: types, config, and clear errors."""

from __future__ import annotations

import copy

import pytest
import torch

from mtquant.agents.hierarchical.base_specialist import BaseSpecialist
from mtquant.agents.hierarchical.commodities_specialist import CommoditiesSpecialist
from mtquant.agents.hierarchical.equity_specialist import EquitySpecialist
from mtquant.agents.hierarchical.forex_specialist import ForexSpecialist
from mtquant.agents.hierarchical.specialist_factory import SpecialistRegistry, build_specialists
from mtquant.config import compose_config, to_object
from mtquant.config.agents import SpecialistConfig
from mtquant.errors import ConfigError


@pytest.fixture(scope="module")
def run_cfg():  # type: ignore[no-untyped-def]
    return to_object(compose_config("train", []))


def test_preregistered_types() -> None:
    classes = SpecialistRegistry().get_all_specialists()
    assert classes == {
        "forex": ForexSpecialist,
        "commodities": CommoditiesSpecialist,
        "equity": EquitySpecialist,
    }


def test_create_from_plan_example() -> None:
    fx = SpecialistRegistry().create_specialist(
        "forex", {"instruments": ["EURUSD", "GBPUSD", "USDJPY"]}
    )
    assert isinstance(fx, ForexSpecialist) and fx.get_instruments() == [
        "EURUSD",
        "GBPUSD",
        "USDJPY",
    ]
    assert SpecialistRegistry().validate_specialist(fx)


def test_create_from_specialist_config_uses_its_sizes() -> None:
    sp = SpecialistRegistry().create_specialist(
        "equity", SpecialistConfig(type="equity", market_features_dim=7, hidden_dim=32)
    )
    assert sp.instrument_heads["US30"][0].out_features == 32


def test_unknown_type_lists_known() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown specialist type 'crypto'; known: \['commodities', 'equity', 'forex'\]",
    ):
        SpecialistRegistry().create_specialist("crypto", {})


def test_unknown_config_key_refused() -> None:
    with pytest.raises(ConfigError, match="lr"):
        SpecialistRegistry().create_specialist("forex", {"lr": 1.0})


def test_wrong_feature_dim_refused() -> None:
    with pytest.raises(ConfigError, match="market_features_dim=5, expected 8"):
        SpecialistRegistry().create_specialist("forex", {"market_features_dim": 5})


def test_register_refuses_non_specialists_and_abstract() -> None:
    reg = SpecialistRegistry()
    with pytest.raises(ConfigError, match="not a BaseSpecialist"):
        reg.register_specialist("x", torch.nn.Linear)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="abstract"):
        reg.register_specialist("x", BaseSpecialist)


def test_register_new_type() -> None:
    class MetalsSpecialist(CommoditiesSpecialist):
        SPECIALIST_TYPE = "metals"
        DEFAULT_INSTRUMENTS = ("XAUUSD",)

    reg = SpecialistRegistry()
    reg.register_specialist("metals", MetalsSpecialist)
    assert reg.create_specialist("metals").get_instruments() == ["XAUUSD"]


def test_build_specialists_in_active_order(run_cfg) -> None:  # type: ignore[no-untyped-def]
    out = build_specialists(run_cfg.agents, run_cfg.instruments)
    assert list(out) == ["forex", "commodities", "equity"]
    assert [
        s for sp in out.values() for s in sp.get_instruments()
    ] == run_cfg.instruments.active_symbols()


def test_build_errors(run_cfg) -> None:  # type: ignore[no-untyped-def]
    inst = copy.deepcopy(run_cfg.instruments)
    inst.specialists["commodities"] = ["XAUUSD", "BTCUSD"]
    with pytest.raises(ConfigError, match="unknown instrument 'BTCUSD'"):
        build_specialists(run_cfg.agents, inst)
    inst = copy.deepcopy(run_cfg.instruments)
    inst.specialists["equity"] = ["SPX500", "XAUUSD"]
    with pytest.raises(ConfigError, match="'XAUUSD' is in both 'commodities' and 'equity'"):
        build_specialists(run_cfg.agents, inst)
    inst = copy.deepcopy(run_cfg.instruments)
    inst.specialists["equity"] = []
    with pytest.raises(ConfigError, match="instruments.specialists.equity: no instruments"):
        build_specialists(run_cfg.agents, inst)
    agents = copy.deepcopy(run_cfg.agents)
    del agents.specialists["equity"]
    with pytest.raises(ConfigError, match="no entry for active specialist 'equity'"):
        build_specialists(agents, run_cfg.instruments)
    agents = copy.deepcopy(run_cfg.agents)
    agents.specialists["equity"].type = "bonds"
    with pytest.raises(
        ConfigError, match="agents.specialists.equity: unknown specialist type 'bonds'"
    ):
        build_specialists(agents, run_cfg.instruments)
