"""OrderFactory: validated specs with deterministic client order ids (one counter per strategy)."""

from __future__ import annotations

import pytest

from tradeloop.core.bus import MessageBus
from tradeloop.core.errors import ValueRangeError
from tradeloop.core.ids import StrategyId
from tradeloop.execution import ExecutionEngine, OrderFactory
from tradeloop.model.enums import OrderSide, OrderType, TimeInForce, TrailingOffsetType
from tradeloop.model.objects import Price, Quantity
from tradeloop.testkit import TestClock, es_future, id_factory

ES = es_future()
ONE = Quantity.from_int(1)


def _engine(seed: int) -> ExecutionEngine:
    clock = TestClock()
    return ExecutionEngine(MessageBus(clock, id_factory(seed)), clock, id_factory(seed + 1))


def test_client_order_ids_count_from_one_per_strategy() -> None:
    a = OrderFactory(StrategyId("A"))
    b = OrderFactory(StrategyId("B"))

    ids = [a.next_id(), a.market(ES.id, OrderSide.BUY, ONE).client_order_id, b.next_id(), a.next_id()]

    assert ids == ["O-A-1", "O-A-2", "O-B-1", "O-A-3"]
    assert (a.count, b.count) == (3, 1)


def test_a_factory_can_resume_counting_after_a_restart() -> None:
    factory = OrderFactory(StrategyId("A"), start=41)
    assert factory.next_id() == "O-A-42"


def test_the_engine_hands_each_strategy_one_factory_and_a_new_engine_repeats_the_ids() -> None:
    first, second = _engine(1), _engine(100)  # the id seed does not matter to order ids
    s1 = StrategyId("S-1")

    assert first.order_factory(s1) is first.order_factory(s1)
    run1 = [first.order_factory(s1).next_id() for _ in range(3)]
    run2 = [second.order_factory(s1).next_id() for _ in range(3)]

    assert run1 == run2 == ["O-S-1-1", "O-S-1-2", "O-S-1-3"]
    assert first.order_factory(StrategyId("S-2")).next_id() == "O-S-2-1"


def test_each_builder_sets_its_order_type_and_prices() -> None:
    f = OrderFactory(StrategyId("S"))
    px = Price.from_str("5000.25")
    trigger = Price.from_str("4990.00")

    market = f.market(ES.id, OrderSide.BUY, ONE, time_in_force=TimeInForce.IOC, tags=("entry",))
    limit = f.limit(ES.id, OrderSide.SELL, ONE, px, post_only=True, expire_time_ns=10)
    stop = f.stop_market(ES.id, OrderSide.SELL, ONE, trigger, reduce_only=True)
    stop_limit = f.stop_limit(ES.id, OrderSide.SELL, ONE, px, trigger)
    trailing = f.trailing_stop_market(
        ES.id, OrderSide.SELL, ONE, 25, offset_type=TrailingOffsetType.BASIS_POINTS
    )

    assert [o.order_type for o in (market, limit, stop, stop_limit, trailing)] == [
        OrderType.MARKET,
        OrderType.LIMIT,
        OrderType.STOP_MARKET,
        OrderType.STOP_LIMIT,
        OrderType.TRAILING_STOP_MARKET,
    ]
    assert (market.price, market.time_in_force, market.tags) == (None, TimeInForce.IOC, ("entry",))
    assert (limit.price, limit.post_only, limit.expire_time_ns) == (px, True, 10)
    assert (stop.trigger_price, stop.reduce_only) == (trigger, True)
    assert (stop_limit.price, stop_limit.trigger_price) == (px, trigger)
    assert (trailing.trailing_offset, trailing.trailing_offset_type) == (25, TrailingOffsetType.BASIS_POINTS)
    assert trailing.reduce_only is True  # a trailing stop protects a position by default
    assert all(o.strategy_id == "S" and o.instrument_id == ES.id for o in (market, limit, stop, trailing))


def test_a_spec_that_fails_validation_raises_and_its_id_is_never_reused() -> None:
    f = OrderFactory(StrategyId("S"))
    with pytest.raises(ValueRangeError, match="trailing stop needs a positive trailing offset"):
        f.trailing_stop_market(ES.id, OrderSide.SELL, ONE, 0)
    with pytest.raises(ValueRangeError, match="quantity must be positive"):
        f.market(ES.id, OrderSide.BUY, Quantity.from_int(0))

    # Ids stay unique (the failed builds used O-S-1 and O-S-2; they were never submitted).
    assert f.next_id() == "O-S-3"
