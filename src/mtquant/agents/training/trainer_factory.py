"""Lightning pieces built from config: the experiment logger, checkpointing and the Trainer.

The logger is looked up in :data:`LOGGERS` by ``logger.kind``: ``csv`` (CSVLogger in the run
dir), ``wandb`` (offline unless ``logger.mode=online``) or ``none``.
"""

from __future__ import annotations

from collections.abc import Callable

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger

from mtquant.artifacts import RunDir
from mtquant.config.logger import LOGGER_KINDS
from mtquant.config.store import RunConfig
from mtquant.registry import Registry

# (config, run dir, stage) -> a Lightning logger, or False for none
LoggerFactory = Callable[[RunConfig, RunDir, str], Logger | bool]


def _csv(cfg: RunConfig, run_dir: RunDir, stage: str) -> Logger:
    return CSVLogger(save_dir=str(run_dir.path), name="logs", version=stage)


def _wandb(cfg: RunConfig, run_dir: RunDir, stage: str) -> Logger:
    name = run_dir.path.name
    return WandbLogger(
        project=cfg.logger.project,
        name=f"{name}-{stage}",
        group=name,
        save_dir=str(run_dir.path),
        offline=cfg.logger.mode != "online",
        mode=cfg.logger.mode,
        job_type=stage,
    )


def _none(cfg: RunConfig, run_dir: RunDir, stage: str) -> bool:
    return False


LOGGERS: Registry[LoggerFactory] = Registry.matching(
    "logger.kind", LOGGER_KINDS, {"csv": _csv, "wandb": _wandb, "none": _none}
)


def make_logger(cfg: RunConfig, run_dir: RunDir, stage: str) -> Logger | bool:
    """The experiment logger of ``logger.kind`` for one stage of the run."""
    return LOGGERS.get(cfg.logger.kind)(cfg, run_dir, stage)


def make_trainer(cfg: RunConfig, run_dir: RunDir, stage: str, n_rollouts: int) -> Trainer:
    """A Trainer whose epoch is one rollout: checkpoint every rollout, validate every k rollouts."""
    checkpoint = ModelCheckpoint(
        dirpath=str(run_dir.checkpoint_dir(stage)),
        save_last=True,
        save_top_k=0,
        every_n_epochs=1,
        save_on_train_epoch_end=True,
    )
    hw = cfg.hardware
    return Trainer(
        max_epochs=n_rollouts,
        accelerator=hw.accelerator,
        devices=hw.devices,
        num_nodes=hw.num_nodes,
        strategy=hw.strategy,
        logger=make_logger(cfg, run_dir, stage),
        callbacks=[checkpoint],
        check_val_every_n_epoch=cfg.training.val_check_interval,
        num_sanity_val_steps=0,
        log_every_n_steps=cfg.logger.log_every_n_steps,
        enable_model_summary=False,
        enable_progress_bar=cfg.training.progress_bar,
        default_root_dir=str(run_dir.path),
        deterministic=cfg.training.deterministic and hw.accelerator == "cpu",
    )
