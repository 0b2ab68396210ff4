"""Order events that answer a ``SubmitOrder``: one builder for their common header."""

from __future__ import annotations

from typing import Any, TypeVar

from tradeloop.core.ids import IdFactory
from tradeloop.model.commands import SubmitOrder
from tradeloop.model.events import OrderDenied, OrderEvent

__all__ = ["answer_submit", "order_denied"]

E = TypeVar("E", bound=OrderEvent)


def answer_submit(kind: type[E], command: SubmitOrder, ids: IdFactory, now_ns: int, **fields: Any) -> E:
    """An order event about ``command``'s order: same correlation, caused by the command."""
    return kind(
        id=ids.new_id(),
        correlation_id=command.correlation_id,
        causation_id=command.id,
        ts_event=now_ns,
        ts_init=now_ns,
        strategy_id=command.strategy_id,
        instrument_id=command.instrument_id,
        client_order_id=command.order.client_order_id,
        **fields,
    )


def order_denied(command: SubmitOrder, reason: str, ids: IdFactory, now_ns: int) -> OrderDenied:
    """The denial of ``command`` with ``reason``."""
    return answer_submit(OrderDenied, command, ids, now_ns, reason=reason)
