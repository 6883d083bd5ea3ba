"""Orders, positions, the broker interface and the paper broker (the environment's cost model)."""

from mtquant.execution.broker import Broker
from mtquant.execution.orders import (
    ExecutionReport,
    Fill,
    Order,
    OrderType,
    Portfolio,
    Position,
    Rejection,
    Side,
)
from mtquant.execution.paper_broker import PaperBroker

__all__ = [
    "Broker",
    "ExecutionReport",
    "Fill",
    "Order",
    "OrderType",
    "PaperBroker",
    "Portfolio",
    "Position",
    "Rejection",
    "Side",
]
