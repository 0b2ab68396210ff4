"""Order factory: builds validated :class:`OrderSpec` with deterministic client order ids.

Ids are ``O-<strategy>-<n>``, counting from 1 per strategy, so a replay of the same run
produces the same ids (STYLE.md #5). The execution engine hands each strategy its factory.
"""

from __future__ import annotations

from typing import Any

from tradeloop.core.ids import ClientOrderId, InstrumentId, StrategyId
from tradeloop.model.commands import OrderSpec
from tradeloop.model.enums import OrderSide, OrderType, TimeInForce, TrailingOffsetType
from tradeloop.model.objects import Price, Quantity

__all__ = ["OrderFactory"]


class OrderFactory:
    """Makes the orders of one strategy."""

    __slots__ = ("_count", "strategy_id")

    def __init__(self, strategy_id: StrategyId, *, start: int = 0) -> None:
        self.strategy_id = strategy_id
        self._count = start

    @property
    def count(self) -> int:
        """How many ids were issued."""
        return self._count

    def _spec(
        self,
        instrument_id: InstrumentId,
        side: OrderSide,
        order_type: OrderType,
        quantity: Quantity,
        **fields: Any,
    ) -> OrderSpec:
        return OrderSpec(
            client_order_id=self.next_id(),
            strategy_id=self.strategy_id,
            instrument_id=instrument_id,
            side=side,
            order_type=order_type,
            quantity=quantity,
            **fields,
        )

    def next_id(self) -> ClientOrderId:
        self._count += 1
        return ClientOrderId(f"O-{self.strategy_id}-{self._count}")

    def market(
        self,
        instrument_id: InstrumentId,
        side: OrderSide,
        quantity: Quantity,
        *,
        time_in_force: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        tags: tuple[str, ...] = (),
    ) -> OrderSpec:
        return self._spec(
            instrument_id,
            side,
            OrderType.MARKET,
            quantity,
            time_in_force=time_in_force,
            reduce_only=reduce_only,
            tags=tags,
        )

    def limit(
        self,
        instrument_id: InstrumentId,
        side: OrderSide,
        quantity: Quantity,
        price: Price,
        *,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        expire_time_ns: int | None = None,
        tags: tuple[str, ...] = (),
    ) -> OrderSpec:
        return self._spec(
            instrument_id,
            side,
            OrderType.LIMIT,
            quantity,
            price=price,
            time_in_force=time_in_force,
            post_only=post_only,
            reduce_only=reduce_only,
            expire_time_ns=expire_time_ns,
            tags=tags,
        )

    def stop_market(
        self,
        instrument_id: InstrumentId,
        side: OrderSide,
        quantity: Quantity,
        trigger_price: Price,
        *,
        time_in_force: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        tags: tuple[str, ...] = (),
    ) -> OrderSpec:
        return self._spec(
            instrument_id,
            side,
            OrderType.STOP_MARKET,
            quantity,
            trigger_price=trigger_price,
            time_in_force=time_in_force,
            reduce_only=reduce_only,
            tags=tags,
        )

    def stop_limit(
        self,
        instrument_id: InstrumentId,
        side: OrderSide,
        quantity: Quantity,
        price: Price,
        trigger_price: Price,
        *,
        time_in_force: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        tags: tuple[str, ...] = (),
    ) -> OrderSpec:
        return self._spec(
            instrument_id,
            side,
            OrderType.STOP_LIMIT,
            quantity,
            price=price,
            trigger_price=trigger_price,
            time_in_force=time_in_force,
            reduce_only=reduce_only,
            tags=tags,
        )

    def trailing_stop_market(
        self,
        instrument_id: InstrumentId,
        side: OrderSide,
        quantity: Quantity,
        trailing_offset: int,
        *,
        offset_type: TrailingOffsetType = TrailingOffsetType.PRICE,
        trigger_price: Price | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = True,
        tags: tuple[str, ...] = (),
    ) -> OrderSpec:
        """A trailing stop; ``trailing_offset`` is a raw price distance or basis points."""
        return self._spec(
            instrument_id,
            side,
            OrderType.TRAILING_STOP_MARKET,
            quantity,
            trigger_price=trigger_price,
            trailing_offset=trailing_offset,
            trailing_offset_type=offset_type,
            time_in_force=time_in_force,
            reduce_only=reduce_only,
            tags=tags,
        )
