"""Schema of the ``logger`` group: Weights & Biases (offline by default), CSV, or none."""

from __future__ import annotations

from dataclasses import dataclass

from mtquant.config.validation import one_of


@dataclass
class LoggerConfig:
    kind: str = "csv"  # wandb | csv | none
    project: str = "mtquant"
    mode: str = "offline"  # wandb mode: offline (default, sync later) | online | disabled
    log_every_n_steps: int = 1

    def validate(self) -> None:
        one_of("logger.kind", self.kind, ("wandb", "csv", "none"))
        one_of("logger.mode", self.mode, ("offline", "online", "disabled"))
