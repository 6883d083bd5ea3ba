"""Rolling correlation matrix over a ring buffer, updated per bar, with regime detection.

Re-exported by :mod:`mtquant.risk_management.portfolio_risk_manager` (the plan's import path).
:func:`correlation_regime` runs the tracker's rule causally over a dataset once, so the batched
environment and the live decision cycle read the same regime for a day (the circuit breaker of
:mod:`mtquant.risk_management.guard` trips on a spike).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mtquant.errors import DataError
from mtquant.risk_management.correlation_exposure import weighted_correlation_exposure

REGIMES = ("none", "correlation_spike", "correlation_breakdown")  # codes 0, 1, 2
SPIKE = REGIMES.index("correlation_spike")


class CorrelationTracker:
    """Correlations of the last ``window`` return rows, kept as running sums.

    ``update`` adds the new row to ``sum x`` and ``sum x x'`` and subtracts the row leaving the
    ring buffer: O(N^2) per bar, no recomputation. The correlation is the ddof=1 sample
    correlation of the rows in the window (equal to ``numpy.corrcoef``); an instrument with zero
    variance in the window has correlation 0 with the others (1 on the diagonal).

    Regime: after each update with a full window the average pairwise correlation (upper
    triangle) is recorded; ``detect_regime_change`` compares the latest average with the mean of
    the ``lookback`` averages before it: above ``spike_ratio`` x that mean is a
    ``'correlation_spike'``, below ``breakdown_ratio`` x is a ``'correlation_breakdown'``. The
    ratios are only meaningful for a positive baseline, so a baseline <= 0 reports ``None``.
    """

    def __init__(
        self,
        instruments: Sequence[str],
        window: int = 100,
        spike_ratio: float = 1.3,
        breakdown_ratio: float = 0.7,
        lookback: int = 20,
    ) -> None:
        if window < 2:
            raise DataError(f"CorrelationTracker window must be >= 2; got {window}")
        self.instruments = list(instruments)
        n = len(self.instruments)
        self.window = int(window)
        self.spike_ratio = float(spike_ratio)
        self.breakdown_ratio = float(breakdown_ratio)
        self.lookback = int(lookback)
        self._buf = np.zeros((self.window, n))
        self._sum = np.zeros(n)
        self._outer = np.zeros((n, n))
        self._count = 0  # rows currently in the window
        self._pos = 0  # next slot of the ring buffer
        self._iu = np.triu_indices(n, k=1)
        self._averages: deque[float] = deque(maxlen=self.lookback + 1)

    @property
    def count(self) -> int:
        return self._count

    def _row(self, returns: Mapping[str, float] | np.ndarray | Sequence[float]) -> np.ndarray:
        if isinstance(returns, Mapping):
            missing = [s for s in self.instruments if s not in returns]
            if missing:
                raise DataError(f"CorrelationTracker.update: no return for {missing}")
            row = np.array([float(returns[s]) for s in self.instruments])
        else:
            row = np.asarray(returns, dtype=np.float64).reshape(-1)
            if row.shape != (len(self.instruments),):
                raise DataError(
                    f"CorrelationTracker.update: expected {len(self.instruments)} returns "
                    f"({self.instruments}); got shape {row.shape}"
                )
        if not np.isfinite(row).all():
            raise DataError(f"CorrelationTracker.update: non-finite return in {row.tolist()}")
        return row

    def update(self, returns: Mapping[str, float] | np.ndarray | Sequence[float]) -> None:
        """Add one bar of returns (dict by symbol or an ``[N]`` array in instrument order)."""
        row = self._row(returns)
        if self._count == self.window:
            old = self._buf[self._pos]
            self._sum -= old
            self._outer -= np.outer(old, old)
        else:
            self._count += 1
        self._buf[self._pos] = row
        self._sum += row
        self._outer += np.outer(row, row)
        self._pos = (self._pos + 1) % self.window
        if self._count == self.window:
            self._averages.append(self.average_correlation())

    def extend(self, returns: np.ndarray) -> None:
        """Add ``[T, N]`` rows in order (each one through :meth:`update`)."""
        for row in np.asarray(returns, dtype=np.float64):
            self.update(row)

    def get_current_covariance(self) -> np.ndarray:
        """ddof=1 covariance ``[N, N]`` of the rows in the window."""
        if self._count < 2:
            raise DataError(f"CorrelationTracker has {self._count} rows; at least 2 are needed")
        k = self._count
        cov = (self._outer - np.outer(self._sum, self._sum) / k) / (k - 1)
        return (cov + cov.T) / 2.0

    def get_current_correlations(self) -> np.ndarray:
        """Correlation matrix ``[N, N]`` of the rows in the window (see class doc)."""
        cov = self.get_current_covariance()
        sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        inv = np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 0)
        corr = np.clip(cov * np.outer(inv, inv), -1.0, 1.0)
        np.fill_diagonal(corr, 1.0)
        return np.asarray(corr, dtype=np.float64)

    def average_correlation(self) -> float:
        """Mean of the pairwise correlations (upper triangle, diagonal excluded)."""
        return float(self.get_current_correlations()[self._iu].mean())

    def detect_regime_change(self) -> str | None:
        """``'correlation_spike'``, ``'correlation_breakdown'`` or ``None`` (class doc)."""
        if len(self._averages) <= self.lookback:
            return None
        hist = list(self._averages)
        current, baseline = hist[-1], float(np.mean(hist[:-1]))
        if baseline <= 0.0:
            return None
        if current > self.spike_ratio * baseline:
            return "correlation_spike"
        if current < self.breakdown_ratio * baseline:
            return "correlation_breakdown"
        return None

    def get_max_correlation_exposure(self, positions: Any) -> float:
        """Correlation exposure of a book weighted by position sizes (the plan's definition):
        ``sum_{i<j} |w_i||w_j| sign(w_i) sign(w_j) rho_ij / sum_{i<j} |w_i||w_j|`` over the held
        pairs, with the current correlations
        (:func:`~mtquant.risk_management.correlation_exposure.weighted_correlation_exposure`).

        ``positions``: a sequence of objects with ``.symbol`` and ``.notional`` or an ``[N]``
        array of signed weights in instrument order.
        """
        if isinstance(positions, np.ndarray | torch.Tensor):
            w = np.asarray(positions, dtype=np.float64).reshape(1, -1)
        else:
            w = np.zeros((1, len(self.instruments)))
            for p in positions:
                if p.symbol not in self.instruments:
                    raise DataError(f"position in unknown instrument {p.symbol!r}")
                w[0, self.instruments.index(p.symbol)] += float(p.notional)
        return float(weighted_correlation_exposure(w, self.get_current_correlations())[0])

    def visualize_correlation_heatmap(self, path: str | Path | None = None) -> Figure:
        """Heatmap of the current correlations; saved as PNG when ``path`` is given."""
        corr = self.get_current_correlations()
        fig = Figure(figsize=(1.0 + 0.7 * len(self.instruments), 0.6 + 0.7 * len(self.instruments)))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        im = ax.imshow(corr, vmin=-1.0, vmax=1.0, cmap="RdBu_r")
        ticks = range(len(self.instruments))
        ax.set_xticks(list(ticks), self.instruments, rotation=45, ha="right")
        ax.set_yticks(list(ticks), self.instruments)
        for i, j in np.ndindex(corr.shape):
            ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=7)
        ax.set_title(f"Rolling correlation ({self._count} bars)")
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        if path is not None:
            fig.savefig(Path(path), format="png", dpi=100)
        return fig


def correlation_regime(
    returns: torch.Tensor, window: int = 100, spike_ratio: float = 1.3, breakdown_ratio: float = 0.7
) -> torch.Tensor:
    """``[T]`` int64 codes (:data:`REGIMES`): what a :class:`CorrelationTracker` (``window``,
    ``spike_ratio``, ``breakdown_ratio``; ``risk.correlation_window`` etc.) fed the rows of
    ``returns [T, N]`` up to ``t`` reports; 0 until its window and 20-day baseline are full, and
    for a single instrument (no pairs)."""
    t_len, n = returns.shape
    codes = torch.zeros(t_len, dtype=torch.long)
    if n < 2:
        return codes
    tracker = CorrelationTracker([str(k) for k in range(n)], window, spike_ratio, breakdown_ratio)
    rows = returns.double().numpy()
    for t in range(t_len):  # the tracker's running sums: O(N^2) per day, once per dataset
        tracker.update(rows[t])
        regime = tracker.detect_regime_change()
        if regime is not None:
            codes[t] = REGIMES.index(regime)
    return codes
