"""Lightning pieces built from config: the experiment logger, checkpointing and the Trainer."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger

from mtquant.config.store import RunConfig

LAST_CKPT = "last.ckpt"


def checkpoint_dir(run_dir: str | Path, phase: str) -> Path:
    """``<run_dir>/checkpoints/<phase>/`` — where a phase's ``last.ckpt`` lives."""
    return Path(run_dir) / "checkpoints" / phase


def make_logger(cfg: RunConfig, run_dir: str | Path, phase: str) -> Logger | bool:
    """``logger.kind``: ``csv`` (CSVLogger), ``wandb`` (offline unless ``logger.mode=online``), ``none``."""
    kind = cfg.logger.kind
    if kind == "csv":
        return CSVLogger(save_dir=str(run_dir), name="logs", version=phase)
    if kind == "wandb":
        return WandbLogger(
            project=cfg.logger.project,
            name=f"{Path(run_dir).name}-{phase}",
            group=Path(run_dir).name,
            save_dir=str(run_dir),
            offline=cfg.logger.mode != "online",
            mode=cfg.logger.mode,
            job_type=phase,
        )
    return False


def make_trainer(cfg: RunConfig, run_dir: str | Path, phase: str, n_rollouts: int) -> Trainer:
    """A Trainer whose epoch is one rollout: checkpoint every rollout, validate every k rollouts."""
    checkpoint = ModelCheckpoint(
        dirpath=str(checkpoint_dir(run_dir, phase)),
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
        logger=make_logger(cfg, run_dir, phase),
        callbacks=[checkpoint],
        check_val_every_n_epoch=cfg.training.val_check_interval,
        num_sanity_val_steps=0,
        log_every_n_steps=cfg.logger.log_every_n_steps,
        enable_model_summary=False,
        enable_progress_bar=cfg.training.progress_bar,
        default_root_dir=str(run_dir),
        deterministic=cfg.training.deterministic and hw.accelerator == "cpu",
    )
