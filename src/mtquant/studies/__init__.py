"""Studies over many :class:`~mtquant.experiment.Experiment` runs.

``walk_forward``: retrain on an expanding window and test on the next months, fold by fold and
seed by seed (``scripts/backtest.py``); ``learning_check``: train on synthetic data with and
without a planted signal and score against an oracle (``scripts/learning_check.py``).
"""
