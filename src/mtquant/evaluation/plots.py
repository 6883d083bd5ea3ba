"""Report figures: each function draws one PNG at ``path`` and returns the path.

Figures are built as ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot global state,
no display needed); nothing stays open after the function returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from mtquant.evaluation.metrics import drawdown_series, exposure_by_sector, wealth
from mtquant.evaluation.results import StrategyResult
from mtquant.evaluation.var_backtest import var_breaches

DPI = 110


def _figure(n_rows: int = 1, height: float = 4.0) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(10.0, height * n_rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(n_rows, 1, k + 1) for k in range(n_rows)]
    return fig, axes


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    fig.clear()
    return out


def plot_equity_curves(results: Sequence[StrategyResult], path: str | Path) -> Path:
    """Growth of 1 (compounded net returns) for the system and every baseline."""
    fig, (ax,) = _figure()
    for res in results:
        ax.plot(res.dates, wealth(res.returns)[1:], label=res.name, lw=1.4)
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set(title="Equity (growth of 1, net of costs)", ylabel="wealth")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_drawdowns(results: Sequence[StrategyResult], path: str | Path) -> Path:
    """Drawdown from the running peak (initial capital included), as negative percent."""
    fig, (ax,) = _figure()
    for res in results:
        ax.plot(res.dates, -100.0 * drawdown_series(res.returns), label=res.name, lw=1.2)
    ax.set(title="Drawdown", ylabel="% below peak")
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


def plot_allocations(
    dates: ArrayLike,
    allocations: ArrayLike,  # [T, S]
    appetite: ArrayLike,  # [T]
    specialists: Sequence[str],
    path: str | Path,
) -> Path:
    """The meta-controller's capital allocation (stacked) and its risk appetite over time."""
    alloc: NDArray[np.float64] = np.asarray(allocations, dtype=np.float64)
    fig, (ax_a, ax_r) = _figure(2, height=3.2)
    ax_a.stackplot(dates, alloc.T, labels=list(specialists))
    ax_a.set(title="Meta-controller allocation", ylabel="share of risk budget", ylim=(0.0, 1.0))
    ax_a.legend(loc="upper left", fontsize=8)
    ax_r.plot(dates, np.asarray(appetite, dtype=np.float64), color="black", lw=1.2)
    ax_r.set(title="Risk appetite", ylabel="appetite", ylim=(0.0, 1.05))
    return _save(fig, path)


def plot_var_vs_pnl(
    dates: ArrayLike, returns: ArrayLike, var_forecasts: ArrayLike, path: str | Path
) -> Path:
    """Realised daily return against minus the ex-ante VaR; breaches (loss > VaR) in red."""
    r: NDArray[np.float64] = np.asarray(returns, dtype=np.float64)
    v: NDArray[np.float64] = np.asarray(var_forecasts, dtype=np.float64)
    d: NDArray[Any] = np.asarray(dates)
    hits = var_breaches(r, v)
    fig, (ax,) = _figure()
    ax.bar(d, 100.0 * r, color="steelblue", width=1.0, label="realised return")
    ax.plot(d, -100.0 * v, color="darkorange", lw=1.2, label="- ex-ante VaR")
    ax.scatter(
        d[hits],
        100.0 * r[hits],
        color="red",
        zorder=3,
        s=18,
        label=f"breach ({int(hits.sum())} of {hits.size} days)",
    )
    ax.set(title="Ex-ante VaR against realised P&L", ylabel="% of equity")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_sector_exposure(
    dates: ArrayLike, weights: ArrayLike, sectors: Sequence[str], path: str | Path
) -> Path:
    """Gross exposure (sum |w|) per sector over time, stacked."""
    expo = exposure_by_sector(weights, sectors, gross=True)
    fig, (ax,) = _figure()
    ax.stackplot(dates, np.vstack(list(expo.values())), labels=list(expo))
    ax.set(title="Gross exposure by sector", ylabel="notional / equity")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)
