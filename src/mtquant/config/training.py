"""Schema of the ``training`` group: the three PPO phases, the single-agent baseline, schedules."""

from __future__ import annotations

from dataclasses import dataclass, field

from mtquant.config.validation import ConfigError, in_open_unit, positive, require

PHASES = ("phase1", "phase2", "phase3")  # the hierarchical system's phases, in order
SINGLE_AGENT = "single_agent"  # the flat single-agent PPO baseline, trained after the phases
STAGES = (*PHASES, SINGLE_AGENT)  # allowed values of training.phases, in the order they run


@dataclass
class PPOConfig:
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    n_epochs: int = 4  # passes over each rollout
    minibatch_size: int = 256  # transitions per PPO minibatch
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 0.5
    weight_decay: float = 0.0  # decoupled (AdamW) decay of every optimiser; 0 = plain Adam

    def validate(self) -> None:
        in_open_unit("training.ppo.gamma", self.gamma)
        require(0 <= self.gae_lambda <= 1, "training.ppo.gae_lambda", self.gae_lambda, "in [0, 1]")
        in_open_unit("training.ppo.clip_range", self.clip_range)
        require(self.n_epochs >= 1, "training.ppo.n_epochs", self.n_epochs, ">= 1")
        require(
            self.minibatch_size >= 1, "training.ppo.minibatch_size", self.minibatch_size, ">= 1"
        )
        positive("training.ppo.max_grad_norm", self.max_grad_norm)
        require(self.weight_decay >= 0, "training.ppo.weight_decay", self.weight_decay, ">= 0")


@dataclass
class CurriculumStage:
    name: str = "full"
    fraction: float = 1.0  # share of the phase's timesteps spent in this stage
    cost_multiplier: float = 1.0  # scales all trading costs
    max_volatility_quantile: float = (
        1.0  # episodes start only where market vol <= this train quantile
    )


@dataclass
class PhaseConfig:
    """What every training stage has: its length, rollout size, learning rate and curriculum."""

    timesteps: int = 10_000  # environment transitions (summed over the batch of envs)
    frames_per_batch: int = 2048  # transitions per collector rollout
    learning_rate: float = 3e-4  # the stage's trained group (phase 3: the specialists)
    curriculum: list[CurriculumStage] = field(default_factory=lambda: [CurriculumStage()])

    def validate(self) -> None:
        require(self.timesteps >= 1, "training.phaseN.timesteps", self.timesteps, ">= 1")
        require(
            self.frames_per_batch >= 2,
            "training.phaseN.frames_per_batch",
            self.frames_per_batch,
            ">= 2",
        )
        positive("training.phaseN.learning_rate", self.learning_rate)
        total = sum(s.fraction for s in self.curriculum)
        require(
            abs(total - 1.0) < 1e-6,
            "training.phaseN.curriculum[*].fraction",
            total,
            "fractions summing to 1",
        )


@dataclass
class Phase1Config(PhaseConfig):
    """Phase 1: the specialists learn at ``learning_rate``."""

    specialist_update_freq: int = 1  # step the specialists every k rollouts

    def validate(self) -> None:
        super().validate()
        require(self.specialist_update_freq >= 1, "training.phase1.specialist_update_freq",
                self.specialist_update_freq, ">= 1")  # fmt: skip


@dataclass
class Phase2Config(PhaseConfig):
    """Phase 2: the meta-controller learns at ``learning_rate``."""

    meta_update_freq: int = 1  # step the meta-controller every k rollouts

    def validate(self) -> None:
        super().validate()
        require(self.meta_update_freq >= 1, "training.phase2.meta_update_freq",
                self.meta_update_freq, ">= 1")  # fmt: skip


@dataclass
class Phase3Config(PhaseConfig):
    """Phase 3: specialists at ``learning_rate``, the meta-controller at ``meta_learning_rate``."""

    meta_learning_rate: float = 1e-4
    meta_update_freq: int = 1  # update the meta-controller every k rollouts
    specialist_update_freq: int = 1  # update the specialists every k rollouts

    def validate(self) -> None:
        super().validate()
        positive("training.phase3.meta_learning_rate", self.meta_learning_rate)
        for key in ("meta_update_freq", "specialist_update_freq"):
            require(getattr(self, key) >= 1, f"training.phase3.{key}", getattr(self, key), ">= 1")


@dataclass
class SingleAgentConfig(PhaseConfig):
    """Schedule of the flat single-agent PPO baseline (one network over all instruments)."""

    hidden_dim: int = 256  # width of the two tanh layers of FlatPPOPolicy

    def validate(self) -> None:
        super().validate()
        positive("training.single_agent.hidden_dim", self.hidden_dim)


@dataclass
class TrainingConfig:
    name: str = "default"
    phases: list[str] = field(default_factory=lambda: list(STAGES))
    ppo: PPOConfig = field(default_factory=PPOConfig)
    phase1: Phase1Config = field(default_factory=Phase1Config)
    phase2: Phase2Config = field(default_factory=Phase2Config)
    phase3: Phase3Config = field(default_factory=Phase3Config)
    single_agent: SingleAgentConfig = field(default_factory=SingleAgentConfig)
    val_check_interval: int = 1  # validate every k rollouts (one deterministic val episode)
    deterministic: bool = True  # torch.use_deterministic_algorithms on CPU
    progress_bar: bool = True  # Lightning's progress bar (off in tests and sweeps)

    def validate(self) -> None:
        for p in self.phases:
            if p not in STAGES:
                raise ConfigError(
                    f"config training.phases: unknown phase {p!r}; known: {list(STAGES)}"
                )
