"""Evaluation: metrics, VaR backtests, Sharpe statistics, plots and the HTML/JSON report.

Pure pieces (``metrics``, ``var_backtest``, ``sharpe_stats``) take arrays and return numbers;
``results.StrategyResult`` holds what one strategy did, ``results.summarise`` scores it and
``report.write_report`` writes ``metrics.json``, the PNGs and a self-contained ``report.html``.
"""

from mtquant.evaluation.report import provenance_rows, write_report
from mtquant.evaluation.results import RiskInterventions, StrategyResult, summarise, target_table
from mtquant.evaluation.verdict import VerdictContext

__all__ = [
    "RiskInterventions",
    "StrategyResult",
    "VerdictContext",
    "provenance_rows",
    "summarise",
    "target_table",
    "write_report",
]
