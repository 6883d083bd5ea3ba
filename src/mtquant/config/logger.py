"""Schema of the ``logger`` group: Weights & Biases (offline by default), CSV, or none."""

from __future__ import annotations

from dataclasses import dataclass

from mtquant.config.validation import one_of

LOGGER_KINDS = ("csv", "wandb", "none")  # mtquant.agents.training.trainer_factory.LOGGERS
WANDB_MODES = ("offline", "online", "disabled")


@dataclass
class LoggerConfig:
    kind: str = "csv"  # wandb | csv | none
    project: str = "mtquant"
    mode: str = "offline"  # wandb mode: offline (default, sync later) | online | disabled
    log_every_n_steps: int = 1

    def validate(self) -> None:
        one_of("logger.kind", self.kind, LOGGER_KINDS)
        one_of("logger.mode", self.mode, WANDB_MODES)
