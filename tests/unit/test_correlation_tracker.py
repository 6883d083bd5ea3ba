"""CorrelationTracker: rolling sums equal numpy.corrcoef, regime detection, heatmap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from mtquant.errors import DataError
from mtquant.risk_management.portfolio_risk_manager import CorrelationTracker

SYMS = ["EURUSD", "GBPUSD", "XAUUSD", "SPX500"]


@dataclass
class Pos:
    symbol: str
    notional: float


def _factor_returns(t: int, loading: float, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return loading * rng.standard_normal((t, 1)) + noise * rng.standard_normal((t, len(SYMS)))


def test_rolling_update_equals_corrcoef_of_last_window() -> None:
    r = _factor_returns(350, 0.01, 0.01, 0) + 0.001  # non-zero means stress the running sums
    tracker = CorrelationTracker(SYMS, window=50)
    for k, row in enumerate(r):
        tracker.update(dict(zip(SYMS, row, strict=True)) if k % 2 else row)
    np.testing.assert_allclose(
        tracker.get_current_correlations(), np.corrcoef(r[-50:], rowvar=False), atol=1e-10
    )
    np.testing.assert_allclose(
        tracker.get_current_covariance(), np.cov(r[-50:], rowvar=False), rtol=1e-9
    )
    corr = np.corrcoef(r[-50:], rowvar=False)
    assert tracker.average_correlation() == pytest.approx(corr[np.triu_indices(4, 1)].mean())


def test_partial_window_uses_the_rows_seen_so_far() -> None:
    r = _factor_returns(7, 0.01, 0.01, 1)
    tracker = CorrelationTracker(SYMS, window=50)
    tracker.extend(r)
    np.testing.assert_allclose(tracker.get_current_correlations(), np.corrcoef(r.T), atol=1e-12)


def test_spike_is_detected_when_a_common_shock_hits() -> None:
    calm = _factor_returns(70, 0.01, 0.012, 2)  # average correlation about 0.4
    tracker = CorrelationTracker(SYMS, window=40)
    tracker.extend(calm)
    assert tracker.detect_regime_change() is None
    shocks = np.outer([-0.05, -0.06, 0.04, -0.07, -0.05], np.ones(len(SYMS)))
    signals = []
    for row in shocks:
        tracker.update(row)
        signals.append(tracker.detect_regime_change())
    assert "correlation_spike" in signals
    assert "correlation_breakdown" not in signals


def test_breakdown_is_detected_when_correlations_collapse() -> None:
    tracker = CorrelationTracker(SYMS, window=40)
    tracker.extend(_factor_returns(70, 0.01, 0.003, 3))  # average correlation about 0.9
    rng = np.random.default_rng(4)
    signals = []
    for row in 0.08 * rng.standard_normal((8, len(SYMS))):  # large independent moves
        tracker.update(row)
        signals.append(tracker.detect_regime_change())
    assert "correlation_breakdown" in signals
    assert "correlation_spike" not in signals


def test_max_correlation_exposure_uses_signed_legs() -> None:
    tracker = CorrelationTracker(SYMS, window=60)
    tracker.extend(_factor_returns(60, 0.01, 0.005, 5))
    corr = tracker.get_current_correlations()
    both_long = [Pos("EURUSD", 1e5), Pos("GBPUSD", 2e5)]
    assert tracker.get_max_correlation_exposure(both_long) == pytest.approx(corr[0, 1])
    hedged = [Pos("EURUSD", 1e5), Pos("GBPUSD", -2e5)]
    assert tracker.get_max_correlation_exposure(hedged) == pytest.approx(-corr[0, 1])
    assert tracker.get_max_correlation_exposure(np.array([1.0, 0, 0, 0])) == 0.0


def test_heatmap_is_saved_as_png(tmp_path) -> None:
    tracker = CorrelationTracker(SYMS, window=30)
    tracker.extend(_factor_returns(30, 0.01, 0.01, 6))
    fig = tracker.visualize_correlation_heatmap(tmp_path / "corr.png")
    assert fig.axes
    assert (tmp_path / "corr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_updates_are_rejected() -> None:
    tracker = CorrelationTracker(SYMS, window=30)
    with pytest.raises(DataError, match="XAUUSD"):
        tracker.update({"EURUSD": 0.0, "GBPUSD": 0.0, "SPX500": 0.0})
    with pytest.raises(DataError, match="non-finite"):
        tracker.update([0.0, np.nan, 0.0, 0.0])
    with pytest.raises(DataError, match="at least 2"):
        tracker.get_current_correlations()
