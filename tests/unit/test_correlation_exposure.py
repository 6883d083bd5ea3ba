"""weighted_correlation_exposure on hand-computed books, in numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtquant.errors import DataError
from mtquant.risk_management.correlation_exposure import (
    correlation_from_covariance,
    weighted_correlation_exposure,
)

RHO2 = np.array([[1.0, 0.8], [0.8, 1.0]])
# three legs: rho_12 = 0.5, rho_13 = 0.2, rho_23 = -0.4
RHO3 = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, -0.4], [0.2, -0.4, 1.0]])


def test_two_longs_with_rho_0_8_give_0_8():
    assert weighted_correlation_exposure(np.array([1.0, 1.0]), RHO2) == pytest.approx(0.8)
    # sizes do not matter with one pair: its effective correlation is the weighted mean
    assert weighted_correlation_exposure(np.array([0.3, 2.0]), RHO2) == pytest.approx(0.8)


def test_long_short_pair_hedges_to_minus_0_8():
    assert weighted_correlation_exposure(np.array([1.0, -1.0]), RHO2) == pytest.approx(-0.8)
    assert weighted_correlation_exposure(np.array([-1.0, -1.0]), RHO2) == pytest.approx(0.8)


def test_three_legs_weights_1_1_2_give_the_size_weighted_mean():
    # pair weights |w_i||w_j|: (1,2) 1, (1,3) 2, (2,3) 2 -> total 5
    # all long: (1 * 0.5 + 2 * 0.2 + 2 * -0.4) / 5 = 0.1 / 5 = 0.02
    assert weighted_correlation_exposure(np.array([1.0, 1.0, 2.0]), RHO3) == pytest.approx(0.02)
    # leg 2 short flips the sign of its pairs: (1 * -0.5 + 2 * 0.2 + 2 * 0.4) / 5 = 0.14
    assert weighted_correlation_exposure(np.array([1.0, -1.0, 2.0]), RHO3) == pytest.approx(0.14)


def test_fewer_than_two_held_legs_give_zero():
    assert weighted_correlation_exposure(np.array([1.0, 0.0]), RHO2) == 0.0
    assert weighted_correlation_exposure(np.array([0.0, 0.0]), RHO2) == 0.0
    assert weighted_correlation_exposure(np.array([1.0, 1e-13]), RHO2) == 0.0  # below HELD_EPS


def test_batched_numpy_and_torch_agree():
    w = np.array([[1.0, 1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 0.0, 3.0]])
    corr = np.broadcast_to(RHO3, (3, 3, 3))
    expected = [0.02, 0.14, 0.0]
    np.testing.assert_allclose(weighted_correlation_exposure(w, corr), expected, atol=1e-15)
    np.testing.assert_allclose(weighted_correlation_exposure(w, RHO3), expected, atol=1e-15)
    out = weighted_correlation_exposure(torch.from_numpy(w), torch.from_numpy(RHO3))
    assert isinstance(out, torch.Tensor) and out.shape == (3,)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-15)


def test_shape_mismatch_is_rejected():
    with pytest.raises(DataError, match="corr"):
        weighted_correlation_exposure(np.ones(3), RHO2)


def test_correlation_from_covariance_normalises_and_zeroes_flat_legs():
    cov = np.array([[4.0, 1.2, 0.0], [1.2, 1.0, 0.0], [0.0, 0.0, 0.0]])
    corr = correlation_from_covariance(cov)
    np.testing.assert_allclose(corr, [[1.0, 0.6, 0.0], [0.6, 1.0, 0.0], [0.0, 0.0, 0.0]])
