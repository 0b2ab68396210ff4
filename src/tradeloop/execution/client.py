"""The port between the execution engine and a venue.

A venue adapter (simulated or real) implements :class:`ExecutionClient`. The engine calls it
with commands the risk engine approved; the adapter answers only by publishing order events
(``OrderAccepted``, ``OrderFilled``, ...) on the bus, carrying the command's
``correlation_id`` and, as ``causation_id``, the id of the command or event that caused them.
"""

from __future__ import annotations

from typing import Protocol

from tradeloop.core.ids import AccountId, Venue
from tradeloop.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder

__all__ = ["ExecutionClient"]


class ExecutionClient(Protocol):
    """What the execution engine needs of a venue."""

    @property
    def venue(self) -> Venue:
        """The venue this client trades on (the ``VENUE`` part of instrument ids)."""
        ...

    @property
    def account_id(self) -> AccountId:
        """The account orders are placed under."""
        ...

    def submit_order(self, command: SubmitOrder) -> None:
        """Send a new order. Answered by ``OrderAccepted`` or ``OrderRejected`` (and fills)."""
        ...

    def cancel_order(self, command: CancelOrder) -> None:
        """Cancel an order. Answered by ``OrderCanceled`` or ``OrderCancelRejected``."""
        ...

    def modify_order(self, command: ModifyOrder) -> None:
        """Change quantity or prices. Answered by ``OrderUpdated`` or ``OrderModifyRejected``."""
        ...

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        """Cancel every open order of the command's strategy on its instrument."""
        ...
