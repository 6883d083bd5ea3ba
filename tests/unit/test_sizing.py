"""target_weights: hand-computed inverse-volatility sizing within specialists."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from mtquant.agents.sizing import (
    SizingModule,
    direction_sign,
    execution_note,
    leg_position,
    target_weights,
)

# two specialists: instruments 0, 1, 2 -> specialist 0; 3, 4 -> specialist 1
INDEX = torch.tensor([0, 0, 0, 1, 1])


def test_hand_computed_example() -> None:
    direction = torch.tensor([[0, 2, 1, 0, 0]])  # long, short, flat, long, long
    allocation = torch.tensor([[0.6, 0.4]])
    appetite = torch.tensor([[0.5]])
    vol = torch.tensor([[0.01, 0.02, 0.01, 0.005, 0.02]])
    w = target_weights(direction_sign(direction), allocation, appetite, vol, INDEX, target_vol=0.01)
    # budget_0 = 0.6 * 0.5 * 0.01 * 2 = 0.006, n_0 = 3 -> 0.002 / vol
    # budget_1 = 0.4 * 0.5 * 0.01 * 2 = 0.004, n_1 = 2 -> 0.002 / vol
    expected = torch.tensor([[0.2, -0.1, 0.0, 0.4, 0.1]])
    torch.testing.assert_close(w, expected)


def test_equal_allocation_full_appetite_gives_each_specialist_target_vol() -> None:
    vol = torch.tensor([[0.01, 0.02, 0.04, 0.01, 0.03]])
    w = target_weights(
        torch.ones(1, 5),
        torch.tensor([[0.5, 0.5]]),
        torch.ones(1, 1),
        vol,
        INDEX,
        0.01,
    )
    leg_vol = w * vol  # each leg's stand-alone daily vol
    torch.testing.assert_close(leg_vol[:, :3].sum(), torch.tensor(0.01))
    torch.testing.assert_close(leg_vol[:, 3:].sum(), torch.tensor(0.01))


def test_max_weight_clips_and_sign_is_kept() -> None:
    w = target_weights(
        torch.tensor([[-1.0, 1.0, 1.0, 1.0, 1.0]]),
        torch.tensor([[1.0, 0.0]]),
        torch.ones(1, 1),
        torch.full((1, 5), 1e-4),
        INDEX,
        0.01,
        max_weight=1.5,
    )
    torch.testing.assert_close(w, torch.tensor([[-1.5, 1.5, 1.5, 0.0, 0.0]]))


def test_batched_rows_are_independent() -> None:
    torch.manual_seed(0)
    b = 64
    position = torch.rand(b, 5) * 2.0 - 1.0  # expected positions in [-1, 1]
    allocation = torch.softmax(torch.randn(b, 2), -1)
    appetite = torch.rand(b, 1)
    vol = torch.rand(b, 5) * 0.02 + 0.001
    full = target_weights(position, allocation, appetite, vol, INDEX, 0.01)
    for row in (0, 17, 63):
        one = target_weights(
            position[row : row + 1],
            allocation[row : row + 1],
            appetite[row : row + 1],
            vol[row : row + 1],
            INDEX,
            0.01,
        )
        torch.testing.assert_close(full[row : row + 1], one)


def test_sizing_module_writes_target_weights() -> None:
    td = TensorDict(
        {
            "action": {
                "direction": torch.tensor([[0, 2, 1, 0, 0]]),
                "allocation": torch.tensor([[0.6, 0.4]]),
                "appetite": torch.tensor([[0.5]]),
            },
            "vol": torch.tensor([[0.01, 0.02, 0.01, 0.005, 0.02]]),
        },
        batch_size=[1],
    )
    out = SizingModule(INDEX, target_vol=0.01)(td)
    torch.testing.assert_close(out["target_weights"], torch.tensor([[0.2, -0.1, 0.0, 0.4, 0.1]]))
    assert list(SizingModule(INDEX, 0.01).parameters()) == []


@pytest.mark.parametrize("bad_vol", [0.0])
def test_zero_vol_is_bounded_by_max_weight(bad_vol: float) -> None:
    w = target_weights(
        torch.ones(1, 5),
        torch.tensor([[0.5, 0.5]]),
        torch.ones(1, 1),
        torch.full((1, 5), bad_vol),
        INDEX,
        0.01,
        max_weight=3.0,
    )
    assert torch.isfinite(w).all() and (w == 3.0).all()


def test_sizing_module_sizes_the_written_position_over_the_direction() -> None:
    td = TensorDict(
        {
            "action": {
                "direction": torch.tensor([[0, 2, 1, 0, 0]]),
                "position": torch.tensor([[0.5, -0.25, 0.0, 1.0, -1.0]]),
                "allocation": torch.tensor([[0.6, 0.4]]),
                "appetite": torch.tensor([[0.5]]),
            },
            "vol": torch.tensor([[0.01, 0.02, 0.01, 0.005, 0.02]]),
        },
        batch_size=[1],
    )
    out = SizingModule(INDEX, target_vol=0.01)(td)
    # leg budgets of the hand example (0.2, 0.1, 0.2, 0.4, 0.1) times the positions
    expected = torch.tensor([[0.1, -0.025, 0.0, 0.4, -0.1]])
    torch.testing.assert_close(out["target_weights"], expected)


def test_leg_position_is_the_expected_position_only_in_a_deterministic_mean_pass() -> None:
    probs = torch.tensor([[[0.4, 0.35, 0.25], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]]])
    argmax = probs.argmax(-1)  # long, short, flat
    mean = leg_position(probs, argmax, deterministic=True, mode="mean")
    torch.testing.assert_close(mean, torch.tensor([[0.15, -0.6, 0.0]]))
    mode = leg_position(probs, argmax, deterministic=True, mode="mode")
    torch.testing.assert_close(mode, torch.tensor([[1.0, -1.0, 0.0]]))
    sampled = torch.tensor([[2, 1, 0]])  # exploration executes the sampled direction
    torch.testing.assert_close(
        leg_position(probs, sampled, deterministic=False, mode="mean"),
        torch.tensor([[-1.0, 0.0, 1.0]]),
    )


def test_execution_note_names_the_mode_and_refuses_unknown_ones() -> None:
    assert "expected position" in execution_note("mean")
    assert "most likely direction" in execution_note("mode")
    with pytest.raises(ValueError, match="position_mode"):
        execution_note("max")
