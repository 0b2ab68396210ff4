"""Market data structs, bar specs, order specs and the enums they use."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from tradeloop.core import ClientOrderId, Lane, StrategyId, ValueRangeError
from tradeloop.model import (
    Bar,
    BarAggregation,
    BarSpec,
    CancelOrder,
    OrderSide,
    OrderSpec,
    OrderType,
    Price,
    QuoteTick,
    SubmitOrder,
    TradeTick,
    TrailingOffsetType,
)
from tradeloop.testkit import es_future, make_bar, make_quote, make_trade

ES = es_future()


@pytest.mark.parametrize(
    ("text", "interval_s"), [("1-MINUTE", 60), ("5-second", 5), ("4-HOUR", 14_400), ("1-DAY", 86_400)]
)
def test_bar_spec_parses_and_prints_and_knows_its_interval(text: str, interval_s: int) -> None:
    spec = BarSpec.parse(text)
    assert spec.interval_ns == interval_s * 1_000_000_000
    assert str(spec) == text.upper()


@pytest.mark.parametrize("text", ["", "MINUTE", "1-WEEK", "x-MINUTE", "0-MINUTE", "-1-MINUTE"])
def test_bad_bar_spec_is_refused_naming_the_text(text: str) -> None:
    with pytest.raises(ValueRangeError, match=re.escape(repr(text))):
        BarSpec.parse(text)


def test_market_data_rides_the_normal_lane_and_round_trips() -> None:
    bar = make_bar(ES, "4500", "4510.25", "4495.50", "4505", 1_200)
    quote = make_quote(ES, "4500.00", "4500.25", 10, 12)
    trade = make_trade(ES, "4500.25", 2)
    for msg, cls in ((bar, Bar), (quote, QuoteTick), (trade, TradeTick)):
        assert msg.LANE is Lane.NORMAL
        decoded: Any = msgspec.msgpack.decode(msgspec.msgpack.encode(msg), type=cls)
        assert decoded == msg
    assert bar.spec == BarSpec(1, BarAggregation.MINUTE)
    assert str(bar.high) == "4510.25"


def spec(**overrides: Any) -> OrderSpec:
    fields: dict[str, Any] = {
        "client_order_id": ClientOrderId("O-1"),
        "strategy_id": StrategyId("S-1"),
        "instrument_id": ES.id,
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "quantity": ES.make_qty(1),
        "price": ES.make_price("4500"),
    }
    fields.update(overrides)
    return OrderSpec(**fields)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"quantity": ES.make_qty(0)}, "positive"),
        ({"price": None}, "needs a price"),
        ({"order_type": OrderType.STOP_MARKET, "price": None}, "trigger price"),
        ({"order_type": OrderType.STOP_LIMIT, "trigger_price": None}, "trigger price"),
        ({"order_type": OrderType.MARKET}, "market order"),
        ({"order_type": OrderType.TRAILING_STOP_MARKET, "price": None}, "trailing offset"),
        ({"trailing_offset": 5}, "only trailing stops"),
        (
            {"order_type": OrderType.STOP_LIMIT, "trigger_price": Price.from_str("1"), "post_only": True},
            "post-only",
        ),
        ({"expire_time_ns": 0}, "expire"),
    ],
)
def test_invalid_order_spec_is_refused_naming_the_order(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueRangeError, match=message) as info:
        spec(**overrides)
    assert "O-1" in str(info.value)


def test_valid_order_specs_of_every_type_build() -> None:
    spec()
    spec(order_type=OrderType.MARKET, price=None)
    spec(order_type=OrderType.STOP_MARKET, price=None, trigger_price=ES.make_price("4490"))
    spec(order_type=OrderType.STOP_LIMIT, trigger_price=ES.make_price("4490"))
    spec(
        order_type=OrderType.TRAILING_STOP_MARKET,
        price=None,
        trailing_offset=50,
        trailing_offset_type=TrailingOffsetType.BASIS_POINTS,
    )
    spec(post_only=True)


def test_trading_commands_ride_the_high_lane() -> None:
    cmd = SubmitOrder(
        ts_event=1,
        ts_init=1,
        id="c-1",
        correlation_id="corr",
        strategy_id=StrategyId("S-1"),
        instrument_id=ES.id,
        order=spec(),
    )
    assert cmd.LANE is Lane.HIGH
    assert CancelOrder.LANE is Lane.HIGH
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(cmd), type=SubmitOrder) == cmd


def test_order_side_sign_and_opposite() -> None:
    assert (OrderSide.BUY.sign, OrderSide.SELL.sign) == (1, -1)
    assert OrderSide.BUY.opposite is OrderSide.SELL
    assert OrderSide.SELL.opposite is OrderSide.BUY
