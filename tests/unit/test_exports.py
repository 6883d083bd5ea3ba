"""Exports: weights_only round trip, refusal of mismatched or corrupt files, atomic writes."""

from __future__ import annotations

import json

import pytest
import torch

from mtquant.artifacts import RunDir, hierarchy_metadata, load_export, save_export
from mtquant.errors import CheckpointError

META = {
    "component": "forex_specialist",
    "phase": "phase1",
    "symbols": ["EURUSD", "GBPUSD", "USDJPY"],
    "specialists": ["forex"],
    "dims": {"observation_dim": 50, "market_features_dim": 8},
    "config_hash": "abc",
}


def test_export_round_trips_with_weights_only(tmp_path):
    sd = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}
    path = tmp_path / "forex_specialist_phase1.pt"
    save_export(path, sd, META)
    raw = torch.load(path, weights_only=True)
    assert raw["metadata"]["symbols"] == META["symbols"]
    loaded, meta = load_export(path, expected=META)
    torch.testing.assert_close(loaded["w"], sd["w"])
    assert meta["phase"] == "phase1"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_mismatched_export_is_refused_naming_the_difference(tmp_path):
    path = tmp_path / "x.pt"
    save_export(path, {"w": torch.ones(1)}, META)
    other = {
        **META,
        "symbols": ["EURUSD", "GBPUSD"],
        "dims": {"observation_dim": 50, "market_features_dim": 6},
    }
    with pytest.raises(CheckpointError) as err:
        load_export(path, expected=other)
    msg = str(err.value)
    assert "symbols" in msg and "USDJPY" in msg and "dims" in msg and "market_features_dim" in msg


def test_truncated_export_gives_a_clear_error(tmp_path):
    path = tmp_path / "x.pt"
    save_export(path, {"w": torch.ones(1000)}, META)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt, truncated"):
        load_export(path)


def test_missing_export_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_export(tmp_path / "nope.pt")


def test_model_card_is_written_as_json_and_markdown(tmp_path):
    RunDir(tmp_path).write_model_card(
        {"name": "t", "metrics": {"val/sharpe": 1.5}, "instruments": ["EURUSD"]}
    )
    card = json.loads((tmp_path / "model_card.json").read_text())
    assert card["metrics"]["val/sharpe"] == 1.5
    assert "val/sharpe" in (tmp_path / "model_card.md").read_text()


def test_export_with_other_head_sharing_is_refused(tmp_path):
    """Shared and separate head trunks have the same state-dict keys; the metadata tells them apart."""
    from mtquant.agents.hierarchical.policy import build_policy
    from mtquant.config import compose_config, to_object

    cfg = to_object(compose_config("train"))
    policy = build_policy(cfg.agents, cfg.instruments)
    path = tmp_path / "forex_specialist_phase1.pt"
    save_export(
        path,
        policy.specialist("forex").state_dict(),
        hierarchy_metadata(cfg, policy, "phase1", "forex"),
    )
    cfg.agents.specialists["forex"].shared_trunk = False
    separate = build_policy(cfg.agents, cfg.instruments)
    with pytest.raises(CheckpointError, match="shared_trunk"):
        load_export(path, expected=hierarchy_metadata(cfg, separate, "phase1", "forex"))
