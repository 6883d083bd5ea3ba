"""Every config file in conf/ composes, validates, and bad values are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from mtquant.config import ConfigError, compose_config, to_object
from mtquant.config.store import config_dir

CONF = Path(config_dir())
PRIMARY = {"train": [], "evaluate": ["checkpoint=outputs/none"], "bench": [], "backtest": []}
# options whose required keys (???) the user must supply
REQUIRED = {
    ("data", "mt5_csv"): ["data.path=/tmp/mt5"],
    ("data", "csv"): ["data.path=/tmp/csv"],
    ("data", "parquet"): ["data.path=/tmp/pq"],
}


def _group_options() -> list[tuple[str, str]]:
    options = []
    for group_dir in sorted(p for p in CONF.iterdir() if p.is_dir()):
        for yaml in sorted(group_dir.glob("*.yaml")):
            options.append((group_dir.name, yaml.stem))
    return options


def _is_global_package(group: str, name: str) -> bool:
    return (CONF / group / f"{name}.yaml").read_text().startswith("# @package _global_")


@pytest.mark.parametrize(("group", "name"), _group_options())
def test_every_config_file_composes(group: str, name: str) -> None:
    overrides = [f"{group}={name}", *REQUIRED.get((group, name), [])]
    cfg = compose_config("train", overrides)
    run = to_object(cfg)
    if not _is_global_package(group, name) and group != "hydra":  # hydra: Hydra's own node
        assert OmegaConf.select(cfg, group) is not None
    assert run.instruments.active_symbols()


@pytest.mark.parametrize("primary", sorted(PRIMARY))
def test_every_primary_takes_its_output_folders_from_the_hydra_group(primary: str) -> None:
    from hydra import compose, initialize_config_dir

    from mtquant.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(primary, overrides=PRIMARY[primary], return_hydra_config=True)
    assert cfg.hydra.run.dir.startswith(f"outputs/{primary}/")
    assert cfg.hydra.sweep.dir.startswith(f"multirun/{primary}/")
    assert "\nhydra:" not in (CONF / f"{primary}.yaml").read_text()  # stated once: conf/hydra


@pytest.mark.parametrize("primary", sorted(PRIMARY))
def test_an_experiment_can_set_top_level_keys(primary: str) -> None:
    """``_self_`` comes first in every primary, so an experiment's seed wins over the primary's."""
    from hydra.core.config_store import ConfigStore

    defaults = OmegaConf.load(CONF / f"{primary}.yaml").defaults
    assert list(defaults[:2]) == ["run", "_self_"]
    ConfigStore.instance().store(
        group="experiment", name="seed_probe", node={"seed": 5}, package="_global_"
    )
    run = to_object(compose_config(primary, [*PRIMARY[primary], "experiment=seed_probe"]))
    assert run.seed == 5


@pytest.mark.parametrize("primary", sorted(PRIMARY))
def test_primary_configs_compose(primary: str) -> None:
    run = to_object(compose_config(primary, PRIMARY[primary]))
    assert run.task == primary


def test_default_instruments_are_the_plans_eight_in_order() -> None:
    run = to_object(compose_config("train"))
    assert run.instruments.active_symbols() == [
        "EURUSD",
        "GBPUSD",
        "USDJPY",
        "XAUUSD",
        "WTIUSD",
        "SPX500",
        "NAS100",
        "US30",
    ]
    assert run.instruments.active_groups()["commodities"] == ["XAUUSD", "WTIUSD"]


def test_unknown_key_is_refused_with_its_name() -> None:
    with pytest.raises(ConfigCompositionException, match="max_portfolio_vaR"):
        compose_config("train", ["risk.max_portfolio_vaR=0.1"])
    with pytest.raises(ConfigError, match=r"risk\.max_portfolio_vaR: unknown key"):
        to_object(compose_config("train", ["+risk.max_portfolio_vaR=0.1"]))


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("risk.var_confidence=1.5", "risk.var_confidence=1.5"),
        ("instruments.symbols.EURUSD.spread=-0.0001", "instruments.symbols.EURUSD.spread=-0.0001"),
        ("risk.max_sector_allocation=0", "risk.max_sector_allocation=0"),
        ("data.source=bloomberg", "data.source='bloomberg'"),
        ("hardware.n_envs=0", "hardware.n_envs=0"),
        ("training.ppo.weight_decay=-1", "training.ppo.weight_decay=-1"),
    ],
)
def test_out_of_range_value_is_refused_naming_key_and_value(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        to_object(compose_config("train", [override]))
    assert fragment in str(err.value)


def test_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigCompositionException, match="max_portfolio_var"):
        compose_config("train", ["risk.max_portfolio_var=two_percent"])


def test_unknown_specialist_and_duplicate_instrument_are_refused() -> None:
    with pytest.raises(ConfigError, match="metals"):
        to_object(compose_config("train", ["instruments.active=[forex,metals]"]))
    with pytest.raises(ConfigError, match="'EURUSD' is in both"):
        to_object(compose_config("train", ["instruments.specialists.equity=[SPX500,EURUSD]"]))


def test_instrument_subset_builds_a_smaller_universe() -> None:
    run = to_object(compose_config("train", ["instruments=forex"]))
    assert run.instruments.active_symbols() == ["EURUSD", "GBPUSD", "USDJPY"]
