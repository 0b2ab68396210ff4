"""A harness around one SimulatedExchange: a real bus, a simulated clock and an event log.

Every order event the venue publishes is collected and also applied to a model ``Order`` built
from the submitted spec, so each test also proves that the venue's event sequences are legal
transitions of the order state machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from tradeloop.core import IdFactory, MessageBus, SimulatedClock
from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.ids import ClientOrderId, StrategyId, Venue
from tradeloop.model import (
    Bar,
    BarSpec,
    BinaryEventContract,
    CancelAllOrders,
    CancelOrder,
    Equity,
    FuturesContract,
    Instrument,
    ModifyOrder,
    Money,
    Order,
    OrderCancelRejected,
    OrderEvent,
    OrderFilled,
    OrderModifyRejected,
    OrderSide,
    OrderSpec,
    OrderSubmitted,
    OrderType,
    Price,
    Quantity,
    QuoteTick,
    SubmitOrder,
    TimeInForce,
    TradeTick,
    TrailingOffsetType,
)
from tradeloop.model.enums import BarAggregation
from tradeloop.venues.simulated import SimulatedExchange, SimulatedVenueConfig

E = TypeVar("E", bound=OrderEvent)

VENUE = Venue("SIM")
STRATEGY = StrategyId("S-1")
MINUTE_NS = 60 * NANOS_PER_SECOND
# 2024-01-02 09:30:00 UTC
START_NS = 1_704_153_600 * NANOS_PER_SECOND + (9 * 3600 + 1800) * NANOS_PER_SECOND

AAPL = Equity("AAPL.SIM", maker_fee="0.0002", taker_fee="0.0005")
EVENT = BinaryEventContract("RAIN.SIM")
ES = FuturesContract("ES.SIM", maker_fee="0.00001", taker_fee="0.00003")


class Harness:
    """Drives one venue and records what it publishes."""

    def __init__(
        self,
        config: SimulatedVenueConfig | None = None,
        instruments: Sequence[Instrument] = (AAPL, EVENT, ES),
        start_ns: int = START_NS,
    ) -> None:
        self.clock = SimulatedClock(start_ns)
        self.bus = MessageBus(self.clock, IdFactory(1))
        self.config = config or SimulatedVenueConfig(starting_balances=Money.from_str("100000", "USD"))
        self.venue = SimulatedExchange(
            VENUE,
            bus=self.bus,
            clock=self.clock,
            ids=IdFactory(2),
            instruments=instruments,
            config=self.config,
        )
        self.instruments = {i.id: i for i in instruments}
        self.aapl, self.event, self.es = AAPL, EVENT, ES
        self.start_ns = start_ns
        self.events: list[OrderEvent] = []
        self.orders: dict[ClientOrderId, Order] = {}
        self.commands: dict[str, Any] = {}
        self.transition_errors: list[str] = []
        self.bus.subscribe(OrderEvent, self._on_event)
        self._seq = 0
        self._cmd_seq = 0
        # Commands reusing a client order id: their rejection is not the first order's event.
        self._not_applied: set[str] = set()

    # -- event log ---------------------------------------------------------------------------

    def _on_event(self, event: OrderEvent) -> None:
        self.events.append(event)
        order = self.orders.get(event.client_order_id)
        if order is None or event.causation_id in self._not_applied:
            return
        if order.is_closed and isinstance(event, OrderCancelRejected | OrderModifyRejected):
            # A request about a closed order changes nothing; the model has no such transition.
            return
        try:
            order.apply(event)
        except Exception as exc:  # noqa: BLE001 - collected and asserted at teardown
            self.transition_errors.append(repr(exc))

    def of(self, cls: type[E], coid: str | None = None) -> list[E]:
        return [e for e in self.events if isinstance(e, cls) and (coid is None or e.client_order_id == coid)]

    def kinds(self, coid: str) -> list[str]:
        return [type(e).__name__ for e in self.events if e.client_order_id == coid]

    def fills(self, coid: str | None = None) -> list[OrderFilled]:
        return self.of(OrderFilled, coid)

    def filled_qty(self, coid: str) -> Decimal:
        return sum((f.last_qty.as_decimal() for f in self.fills(coid)), Decimal(0))

    # -- commands ----------------------------------------------------------------------------

    def _ids(self) -> dict[str, Any]:
        self._cmd_seq += 1
        now = self.clock.timestamp_ns()
        return {
            "id": f"cmd-{self._cmd_seq}",
            "correlation_id": f"corr-{self._cmd_seq}",
            "ts_event": now,
            "ts_init": now,
        }

    def submit(
        self,
        side: OrderSide | str,
        qty: str | int,
        order_type: OrderType | str = OrderType.MARKET,
        *,
        price: str | None = None,
        trigger: str | None = None,
        instrument: Instrument | None = None,
        coid: str | None = None,
        strategy: StrategyId = STRATEGY,
        **spec_fields: Any,
    ) -> ClientOrderId:
        instrument = instrument or self.aapl
        if "time_in_force" in spec_fields:
            spec_fields["time_in_force"] = TimeInForce(spec_fields["time_in_force"])
        if "trailing_offset_type" in spec_fields:
            spec_fields["trailing_offset_type"] = TrailingOffsetType(spec_fields["trailing_offset_type"])
        self._seq += 1
        client_order_id = ClientOrderId(coid or f"O-{self._seq}")
        spec = OrderSpec(
            client_order_id=client_order_id,
            strategy_id=strategy,
            instrument_id=instrument.id,
            side=OrderSide(side),
            order_type=OrderType(order_type),
            quantity=Quantity.from_str(str(qty)),
            price=Price.from_str(price) if price is not None else None,
            trigger_price=Price.from_str(trigger) if trigger is not None else None,
            **spec_fields,
        )
        ids = self._ids()
        command = SubmitOrder(strategy_id=strategy, instrument_id=instrument.id, order=spec, **ids)
        self.commands[command.id] = command
        if client_order_id not in self.orders:
            order = Order(spec)
            order.apply(
                OrderSubmitted(
                    strategy_id=strategy,
                    instrument_id=instrument.id,
                    client_order_id=client_order_id,
                    account_id=self.venue.account_id,
                    id=f"sub-{self._seq}",
                    correlation_id=ids["correlation_id"],
                    ts_event=ids["ts_event"],
                    ts_init=ids["ts_init"],
                )
            )
            self.orders[client_order_id] = order
        else:
            self._not_applied.add(command.id)
        self.venue.submit_order(command)
        return client_order_id

    def cancel(
        self, coid: str, instrument: Instrument | None = None, strategy: StrategyId = STRATEGY
    ) -> CancelOrder:
        instrument = instrument or self.aapl
        command = CancelOrder(
            strategy_id=strategy,
            instrument_id=instrument.id,
            client_order_id=ClientOrderId(coid),
            **self._ids(),
        )
        self.commands[command.id] = command
        self.venue.cancel_order(command)
        return command

    def cancel_all(
        self, instrument: Instrument | None = None, strategy: StrategyId = STRATEGY
    ) -> CancelAllOrders:
        instrument = instrument or self.aapl
        command = CancelAllOrders(strategy_id=strategy, instrument_id=instrument.id, **self._ids())
        self.commands[command.id] = command
        self.venue.cancel_all_orders(command)
        return command

    def modify(
        self,
        coid: str,
        *,
        qty: str | None = None,
        price: str | None = None,
        trigger: str | None = None,
        instrument: Instrument | None = None,
    ) -> ModifyOrder:
        instrument = instrument or self.aapl
        command = ModifyOrder(
            strategy_id=STRATEGY,
            instrument_id=instrument.id,
            client_order_id=ClientOrderId(coid),
            quantity=Quantity.from_str(qty) if qty is not None else None,
            price=Price.from_str(price) if price is not None else None,
            trigger_price=Price.from_str(trigger) if trigger is not None else None,
            **self._ids(),
        )
        self.commands[command.id] = command
        self.venue.modify_order(command)
        return command

    # -- market data -------------------------------------------------------------------------

    def _step(self, ts: int | None) -> int:
        ts = self.clock.timestamp_ns() + MINUTE_NS if ts is None else ts
        self.clock.set_time(ts)
        self.venue.advance_time(ts)
        return ts

    def bar(
        self,
        o: str,
        h: str,
        l: str,  # noqa: E741 - OHLC
        c: str,
        volume: str = "1000000",
        *,
        instrument: Instrument | None = None,
        ts: int | None = None,
    ) -> None:
        instrument = instrument or self.aapl
        ts = self._step(ts)
        self.venue.process_bar(
            Bar(
                instrument_id=instrument.id,
                spec=BarSpec(1, BarAggregation.MINUTE),
                open=Price.from_str(o),
                high=Price.from_str(h),
                low=Price.from_str(l),
                close=Price.from_str(c),
                volume=Quantity.from_str(volume),
                ts_event=ts,
                ts_init=ts,
            )
        )

    def quote(
        self,
        bid: str,
        ask: str,
        bid_size: str = "1000000",
        ask_size: str = "1000000",
        *,
        instrument: Instrument | None = None,
        ts: int | None = None,
    ) -> None:
        instrument = instrument or self.aapl
        ts = self._step(ts)
        self.venue.process_quote_tick(
            QuoteTick(
                instrument_id=instrument.id,
                bid_price=Price.from_str(bid),
                ask_price=Price.from_str(ask),
                bid_size=Quantity.from_str(bid_size),
                ask_size=Quantity.from_str(ask_size),
                ts_event=ts,
                ts_init=ts,
            )
        )

    def trade(
        self,
        price: str,
        size: str = "1000000",
        *,
        instrument: Instrument | None = None,
        ts: int | None = None,
    ) -> None:
        instrument = instrument or self.aapl
        ts = self._step(ts)
        self.venue.process_trade_tick(
            TradeTick(
                instrument_id=instrument.id,
                price=Price.from_str(price),
                size=Quantity.from_str(size),
                ts_event=ts,
                ts_init=ts,
            )
        )


MakeHarness = Callable[..., Harness]


@pytest.fixture
def make_sim() -> Iterator[MakeHarness]:
    """Build harnesses; at teardown, every event must have been a legal order transition."""
    made: list[Harness] = []

    def make(**kwargs: Any) -> Harness:
        harness = Harness(**kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        assert harness.transition_errors == []
        assert harness.bus.handler_errors == 0


@pytest.fixture
def sim(make_sim: MakeHarness) -> Harness:
    """A CASH venue with 100,000 USD, no latency, no faults, every instrument listed."""
    return make_sim()
