"""The ``OrderDenied`` answer to a ``SubmitOrder`` that may not reach a venue."""

from __future__ import annotations

from tradeloop.core.ids import IdFactory
from tradeloop.model.commands import SubmitOrder
from tradeloop.model.events import OrderDenied

__all__ = ["order_denied"]


def order_denied(command: SubmitOrder, reason: str, ids: IdFactory, now_ns: int) -> OrderDenied:
    """The denial of ``command``: same correlation, caused by the command, with ``reason``."""
    return OrderDenied(
        id=ids.new_id(),
        correlation_id=command.correlation_id,
        causation_id=command.id,
        ts_event=now_ns,
        ts_init=now_ns,
        strategy_id=command.strategy_id,
        instrument_id=command.instrument_id,
        client_order_id=command.order.client_order_id,
        reason=reason,
    )
