"""Orders, positions, the broker interface and the paper broker (the environment's cost model)."""

from mtquant.execution.broker import Broker
from mtquant.execution.orders import Fill, Order, OrderType, Portfolio, Position, Side
from mtquant.execution.paper_broker import PaperBroker

__all__ = ["Broker", "Fill", "Order", "OrderType", "PaperBroker", "Portfolio", "Position", "Side"]
