"""Schema of the ``hardware`` group: where the learner and the environments run."""

from __future__ import annotations

from dataclasses import dataclass

from mtquant.config.validation import one_of, require


@dataclass
class HardwareConfig:
    accelerator: str = "cpu"  # Lightning accelerator: cpu | cuda | gpu | auto
    devices: int = 1  # Lightning devices (processes per node with strategy=ddp)
    num_nodes: int = 1  # Lightning num_nodes (multi-node DDP, e.g. under SLURM)
    strategy: str = "auto"  # Lightning strategy (auto | ddp | ddp_spawn ...)
    env_device: str = "cpu"  # device of the batched environment tensors
    n_envs: int = 128  # environments batched in one MultiInstrumentEnv
    collector_workers: int = 0  # 0 = single-process collector; >0 = multi-process collector
    torch_threads: int = 1  # torch.set_num_threads (per process)

    def validate(self) -> None:
        one_of("hardware.accelerator", self.accelerator, ("cpu", "cuda", "gpu", "auto", "mps"))
        require(self.devices >= 1, "hardware.devices", self.devices, ">= 1")
        require(self.num_nodes >= 1, "hardware.num_nodes", self.num_nodes, ">= 1")
        require(self.n_envs >= 1, "hardware.n_envs", self.n_envs, ">= 1")
        require(
            self.collector_workers >= 0,
            "hardware.collector_workers",
            self.collector_workers,
            ">= 0",
        )
        if self.collector_workers > 0:
            require(
                self.n_envs % self.collector_workers == 0,
                "hardware.n_envs",
                self.n_envs,
                f"a multiple of hardware.collector_workers={self.collector_workers}",
            )
        require(self.torch_threads >= 1, "hardware.torch_threads", self.torch_threads, ">= 1")
