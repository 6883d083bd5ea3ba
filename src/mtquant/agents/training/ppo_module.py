"""``PPOModule``: the one LightningModule of every training stage, parametrised by the stage.

Lightning owns the loop: one epoch is one PPO iteration (the feed collects a rollout and
yields ``n_epochs`` x minibatches), so ``ModelCheckpoint`` at each epoch end writes a
checkpoint per rollout and ``check_val_every_n_epoch`` validates every k rollouts. The module
uses manual optimisation because a stage may step several optimisers (meta-controller,
specialists) at their own learning rates and update frequencies. The
:class:`~mtquant.agents.training.stage.Stage` decides which groups train and whether the
allocation is fixed; the PPO core masks the other levels out. While a curriculum is active
(:mod:`mtquant.agents.training.curriculum`) its stage and cost multiplier are logged per rollout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningModule
from tensordict import TensorDictBase
from torch import nn
from torch.utils.data import DataLoader

from mtquant.agents.training.collector_dataset import RolloutMinibatches, make_dataloader
from mtquant.agents.training.curriculum import Curriculum
from mtquant.agents.training.ppo_loss import PPOCoefficients, level_mask, ppo_loss
from mtquant.agents.training.stage import GROUPS, GroupSchedule, Stage

DIAGNOSTICS = ("loss", "pg_loss", "v_loss", "entropy_loss", "approx_kl", "clipfrac")


class PPOModule(LightningModule):
    """PPO over the levels that ``schedules`` (the stage's trained groups) name.

    ``policy`` is a ``HierarchicalPolicy`` (``meta`` and ``specialists`` submodules, a
    ``fixed_allocation`` flag, ``set_trainable`` and ``evaluate_actions``) or the flat agent's
    one-level view; ``feed`` the rollout feed; ``validate_fn(policy) -> dict`` runs the
    deterministic validation episode (``val/...``).
    """

    def __init__(
        self,
        stage: Stage,
        policy: nn.Module,
        feed: RolloutMinibatches,
        n_specialists: int,
        schedules: dict[str, GroupSchedule],
        coef: PPOCoefficients,
        max_grad_norm: float,
        validate_fn: Callable[[nn.Module], dict[str, float]] | None = None,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.stage = stage
        self.fixed_allocation = stage.fixed_allocation  # equal allocation, appetite 1, no meta
        self.policy = policy
        self.feed = feed
        self.n_specialists = n_specialists
        self.schedules = {g: schedules[g] for g in GROUPS if g in schedules}
        self.coef = coef
        self.max_grad_norm = max_grad_norm
        self.weight_decay = weight_decay
        self.validate_fn = validate_fn
        self.last_val: dict[str, float] = {}
        # PPO diagnostics summed over the rollout's minibatches (weighted by size), logged once
        # per rollout: Lightning's per-step self.log costs ~1 ms a call on CPU
        self._diag_sum: torch.Tensor | None = None
        self._diag_count = 0
        self._freeze_untrained()

    def _group_params(self, group: str) -> list[nn.Parameter]:
        """The parameters of ``group``: ``policy.parameter_groups()`` if the policy defines it
        (the single agent's one level), else the hierarchy's ``meta`` / ``specialists``."""
        policy: Any = self.policy
        if callable(getattr(policy, "parameter_groups", None)):
            return list(policy.parameter_groups()[group])
        return list(
            policy.meta.parameters() if group == "meta" else policy.specialists.parameters()
        )

    def _freeze_untrained(self) -> None:
        """Fix or free the allocation (phase 1) and freeze the groups this stage does not train."""
        policy: Any = self.policy
        policy.fixed_allocation = self.fixed_allocation
        policy.set_trainable(
            meta="meta" in self.schedules, specialists="specialists" in self.schedules
        )

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """One optimiser per trained group: Adam, or AdamW when ``weight_decay`` > 0 (decoupled
        decay shrinks weights that the PPO gradient does not keep up: less memorising)."""
        optimizer = torch.optim.AdamW if self.weight_decay > 0 else torch.optim.Adam
        return [
            optimizer(
                self._group_params(g), lr=s.learning_rate, eps=1e-5, weight_decay=self.weight_decay
            )
            for g, s in self.schedules.items()
        ]

    def train_dataloader(self) -> DataLoader[Any]:
        return make_dataloader(self.feed)

    def val_dataloader(self) -> DataLoader[Any]:
        # one item per validation: the deterministic episode runs in validation_step
        return DataLoader([0], batch_size=None)  # type: ignore[arg-type]

    def due_groups(self, rollout: int) -> list[str]:
        """Groups whose optimiser steps on this rollout (``rollout`` counts from 0)."""
        return [g for g, s in self.schedules.items() if rollout % s.update_freq == 0]

    def on_fit_start(self) -> None:
        # DDP: every rank collects its own rollouts (seeded by rank), gradients are averaged
        self.feed.rank = int(self.global_rank)

    def on_train_epoch_start(self) -> None:
        # PPO needs the same network at collection and update: dropout stays off (eval mode)
        self.policy.eval()

    def training_step(self, batch: TensorDictBase, batch_idx: int) -> torch.Tensor:
        self.policy.eval()
        rollout = self.feed.state.rollouts - 1
        due = self.due_groups(rollout)
        optimizers = dict(zip(self.schedules, self._optimizers_list(), strict=False))
        mask = level_mask(self.n_specialists, "meta" in due, "specialists" in due)
        policy: Any = self.policy
        new = policy.evaluate_actions(batch)
        out = ppo_loss(new, batch, mask.to(self.device), self.coef)
        if due:
            for g in due:
                optimizers[g].zero_grad()
            self.manual_backward(out["loss"])
            for g in due:
                self.clip_gradients(
                    optimizers[g],
                    gradient_clip_val=self.max_grad_norm,
                    gradient_clip_algorithm="norm",
                )
                optimizers[g].step()
        size = int(batch.shape[0])
        diag = torch.stack([out[k].detach().float() for k in DIAGNOSTICS]) * size
        self._diag_sum = diag if self._diag_sum is None else self._diag_sum + diag
        self._diag_count += size
        return out["loss"]

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        """A minibatch TensorDict moves in one call (Lightning's generic walk is slow on it)."""
        if isinstance(batch, TensorDictBase):
            return batch.to(device)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _optimizers_list(self) -> list[Any]:
        opts = self.optimizers()
        return list(opts) if isinstance(opts, list | tuple) else [opts]

    def on_train_epoch_end(self) -> None:
        if self._diag_sum is not None and self._diag_count > 0:
            means = (self._diag_sum / self._diag_count).tolist()
            self.log_dict(
                {f"train/{k}": v for k, v in zip(DIAGNOSTICS, means, strict=True)},
                on_step=False,
                on_epoch=True,
                batch_size=1,
                sync_dist=True,  # DDP: mean over ranks (no-op in one process)
            )
        self._diag_sum, self._diag_count = None, 0
        stats = {f"rollout/{k}": v for k, v in self.feed.state.stats.items()}
        stats["rollout/frames"] = float(self.feed.state.frames)
        stats["rollout/index"] = float(self.feed.state.rollouts)
        self.log_dict(stats, on_step=False, on_epoch=True, batch_size=1, sync_dist=True)
        curriculum = self.feed.before_rollout
        if isinstance(curriculum, Curriculum) and curriculum.current >= 0:
            self.log_dict(
                {
                    "curriculum/stage": float(curriculum.current),
                    "curriculum/cost_multiplier": float(curriculum.cost_multiplier),
                },
                on_step=False,
                on_epoch=True,
                batch_size=1,
                sync_dist=True,
            )

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.validate_fn is None:
            return
        was_training = self.policy.training
        self.policy.eval()
        with torch.no_grad():
            metrics = self.validate_fn(self.policy)
        self.policy.train(was_training)
        self.last_val = dict(metrics)
        self.log_dict(
            {f"val/{k}": float(v) for k, v in metrics.items()}, prog_bar=True, batch_size=1
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the feed's position and the RNG states so a resumed run continues exactly."""
        checkpoint["mtquant_feed"] = self.feed.state_dict()
        checkpoint["mtquant_rng"] = {
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "mtquant_feed" in checkpoint:
            self.feed.load_state_dict(checkpoint["mtquant_feed"])
        rng = checkpoint.get("mtquant_rng")
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            _set_numpy_state(rng["numpy"])


def _numpy_state() -> dict[str, Any]:
    """numpy's global MT19937 state as tensors and numbers (loadable with ``weights_only``)."""
    state: Any = np.random.get_state()
    _, keys, pos, has_gauss, gauss = state
    return {
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "gauss": float(gauss),
    }


def _set_numpy_state(state: dict[str, Any]) -> None:
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["pos"], state["has_gauss"], state["gauss"]))
