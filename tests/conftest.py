"""Shared test settings: few threads, a headless matplotlib, hypothesis profiles."""

from __future__ import annotations

import os

import matplotlib
import torch
from hypothesis import settings

matplotlib.use("Agg")
torch.set_num_threads(1)
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")
