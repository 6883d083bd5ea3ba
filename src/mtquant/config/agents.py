"""Schema of the ``agents`` group: network sizes of the meta-controller and each specialist type."""

from __future__ import annotations

from dataclasses import dataclass, field

from mtquant.config.validation import in_unit, one_of, positive, require

# what a policy's deterministic (evaluation) pass executes per leg: "mean" the stochastic
# policy's expected position P(long) - P(short), "mode" the sign of its most likely direction
POSITION_MODES = ("mean", "mode")


@dataclass
class MetaControllerConfig:
    # None = derived from the instrument set: 30 + 1 + 1 + N(N-1)/2 + 3S + 5 (74 for all8);
    # an explicit value must equal that layout
    state_dim: int | None = None
    hidden_dim: int = 256
    hidden_dim_2: int = 128
    dropout: float = 0.2
    allocation_concentration: float = 20.0  # initial Dirichlet total concentration kappa (>= 1)
    appetite_concentration: float = 10.0  # initial Beta alpha + beta for the risk appetite (>= 1)
    learn_concentration: bool = True  # learn both kappas with the policy (else fixed)

    def validate(self) -> None:
        if self.state_dim is not None:
            positive("agents.meta_controller.state_dim", self.state_dim)
        require(
            1.0 <= self.allocation_concentration <= 1000.0,
            "agents.meta_controller.allocation_concentration",
            self.allocation_concentration,
            "in [1, 1000]",
        )
        require(
            1.0 <= self.appetite_concentration <= 1000.0,
            "agents.meta_controller.appetite_concentration",
            self.appetite_concentration,
            "in [1, 1000]",
        )
        positive("agents.meta_controller.hidden_dim", self.hidden_dim)
        positive("agents.meta_controller.hidden_dim_2", self.hidden_dim_2)
        in_unit("agents.meta_controller.dropout", self.dropout)


@dataclass
class SpecialistConfig:
    type: str = "forex"  # registry key: forex | commodities | equity
    # None = derived from the feature set when the policy is built (the domain features of this
    # specialist: forex 8, commodities 6, equity 7; the instrument observation: 50); a value
    # stated here must equal the derived one
    market_features_dim: int | None = None
    observation_dim: int | None = None
    encoder_dim: int = 256
    encoder_out_dim: int = 128
    hidden_dim: int = 64
    dropout: float = 0.0
    shared_trunk: bool = True  # instrument heads share their first layer, own output layer each

    def validate(self) -> None:
        for key in ("market_features_dim", "observation_dim"):
            value = getattr(self, key)
            if value is not None:
                positive(f"agents.specialists.{key}", value)
        positive("agents.specialists.hidden_dim", self.hidden_dim)
        in_unit("agents.specialists.dropout", self.dropout)


@dataclass
class CommunicationConfig:
    message_history_size: int = 1000
    correlation_id_enabled: bool = True
    log_all_messages: bool = False

    def validate(self) -> None:
        require(
            self.message_history_size >= 1,
            "agents.communication.message_history_size",
            self.message_history_size,
            ">= 1",
        )


@dataclass
class AgentsConfig:
    meta_controller: MetaControllerConfig = field(default_factory=MetaControllerConfig)
    # specialist name (as in instruments.specialists) -> network config
    specialists: dict[str, SpecialistConfig] = field(default_factory=dict)
    communication: CommunicationConfig = field(default_factory=CommunicationConfig)
    # what a deterministic (evaluation) pass executes per leg: "mean" = the stochastic policy's
    # expected position P(long) - P(short), "mode" = its most likely direction (all or nothing)
    position_mode: str = "mean"

    def validate(self) -> None:
        check_position_mode(self.position_mode, "agents")


def check_position_mode(mode: str, owner: str) -> str:
    """``mode`` if it is one of :data:`POSITION_MODES`, else a ``ConfigError`` naming ``owner``
    (the config section or the class that received it)."""
    one_of(f"{owner}.position_mode", mode, POSITION_MODES)
    return mode
