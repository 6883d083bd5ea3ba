"""``Broker``: the interface the trading system talks to (paper here; MetaTrader 5 later)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from mtquant.execution.orders import ExecutionReport, Order, Portfolio, Position


class Broker(ABC):
    """Submit orders, read positions and the account. One ``submit_orders`` call is one trading
    day: orders decided at today's close fill at the next open, and the account is marked at the
    next close. A live adapter implements the same three methods."""

    @abstractmethod
    def submit_orders(self, orders: list[Order]) -> ExecutionReport:
        """Gate ``orders`` (possibly none) through the pre-trade checks, execute the accepted ones
        and advance to the next close; return the fills and the refused orders with reasons."""

    @abstractmethod
    def positions(self) -> list[Position]:
        """Open positions at the last close."""

    @abstractmethod
    def account(self) -> Portfolio:
        """The account snapshot at the last close."""
