"""ExecutionEngine: the order cache and the router between approved commands and venues.

The rig is real (bus, clock, ids); :class:`RecordingClient` stands in for a venue behind the
``ExecutionClient`` port. Commands reach the engine the way the risk engine sends them: the
command is published (the engine registers a ``SubmitOrder``), then forwarded to the
``ExecutionEngine.execute`` endpoint.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
import pytest

from tradeloop.core.bus import MessageBus
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId, Venue, VenueOrderId
from tradeloop.core.message import Event, HandlerFailed
from tradeloop.execution import EXECUTE_ENDPOINT, ExecutionEngine, OrderFactory, answer_submit
from tradeloop.model.account import Account
from tradeloop.model.commands import (
    CancelAllOrders,
    CancelOrder,
    ModifyOrder,
    SubmitOrder,
    TradingCommand,
)
from tradeloop.model.enums import OrderSide, OrderStatus
from tradeloop.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderSubmitted,
)
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money, Quantity
from tradeloop.model.orders import Order
from tradeloop.portfolio import Portfolio
from tradeloop.risk import RiskEngine
from tradeloop.testkit import TestClock, aapl_equity, btcusdt, es_future, id_factory, make_fill

E = TypeVar("E", bound=Event)
OE = TypeVar("OE", bound=OrderEvent)

START_NS = 1_700_000_000_000_000_000
STRATEGY = StrategyId("S-1")
OTHER = StrategyId("S-2")


class RecordingClient:
    """A venue behind the ExecutionClient port: records each call and the order's status then."""

    def __init__(self, venue: str, engine: ExecutionEngine, account: str = "SIM-001") -> None:
        self._venue = Venue(venue)
        self._account = AccountId(account)
        self._engine = engine
        self.calls: list[tuple[str, TradingCommand, OrderStatus | None]] = []
        self.accept_at_once: MessageBus | None = None

    @property
    def venue(self) -> Venue:
        return self._venue

    @property
    def account_id(self) -> AccountId:
        return self._account

    def _record(self, kind: str, command: TradingCommand) -> None:
        cid = getattr(command, "client_order_id", None)
        if isinstance(command, SubmitOrder):
            cid = command.order.client_order_id
        order = self._engine.order(cid) if cid is not None else None
        self.calls.append((kind, command, order.status if order is not None else None))

    def submit_order(self, command: SubmitOrder) -> None:
        self._record("submit", command)
        if self.accept_at_once is not None:  # a zero-latency venue answers inside the call
            self.accept_at_once.publish(
                OrderAccepted(
                    id=f"acc-{command.id}",
                    correlation_id=command.correlation_id,
                    causation_id=command.id,
                    ts_event=command.ts_event,
                    ts_init=command.ts_event,
                    strategy_id=command.strategy_id,
                    instrument_id=command.instrument_id,
                    client_order_id=command.order.client_order_id,
                    venue_order_id=VenueOrderId("V-0"),
                )
            )

    def cancel_order(self, command: CancelOrder) -> None:
        self._record("cancel", command)

    def modify_order(self, command: ModifyOrder) -> None:
        self._record("modify", command)

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        self._record("cancel_all", command)


class Rig:
    def __init__(self, *, with_risk: bool = False) -> None:
        self.clock = TestClock(START_NS)
        self.bus = MessageBus(self.clock, id_factory(1))
        self.engine = ExecutionEngine(self.bus, self.clock, id_factory(2))
        self.es = es_future()  # venue CME
        self.aapl = aapl_equity()  # venue XNAS
        self.cme = RecordingClient("CME", self.engine, account="CME-001")
        self.xnas = RecordingClient("XNAS", self.engine, account="XNAS-001")
        self.engine.register_client(self.cme)
        self.engine.register_client(self.xnas)
        self.seen: list[Event] = []
        self.bus.subscribe(Event, self.seen.append)
        self._ids = id_factory(3)
        self._venue_ids = 0
        self.risk: RiskEngine | None = None
        if with_risk:
            portfolio = Portfolio(
                self.bus,
                self.clock,
                id_factory(4),
                Account(AccountId("SIM-001"), Money.from_str("1000000", "USD")),
                [self.es, self.aapl],
            )
            self.risk = RiskEngine(self.bus, self.clock, id_factory(5), portfolio, self.engine)

    # -- commands -------------------------------------------------------------------------

    def _command_fields(self) -> dict[str, Any]:
        now = self.clock.timestamp_ns()
        return {
            "id": self._ids.new_id(),
            "correlation_id": self._ids.new_id(),
            "ts_event": now,
            "ts_init": now,
        }

    def submit(
        self,
        instrument: Instrument,
        side: OrderSide = OrderSide.BUY,
        qty: int = 1,
        *,
        strategy: StrategyId = STRATEGY,
        route: bool = True,
    ) -> SubmitOrder:
        spec = self.engine.order_factory(strategy).market(instrument.id, side, Quantity.from_int(qty))
        command = SubmitOrder(
            strategy_id=strategy, instrument_id=instrument.id, order=spec, **self._command_fields()
        )
        self.bus.publish(command)
        if route:
            self.bus.send(EXECUTE_ENDPOINT, command, forward=True)
        return command

    # -- venue answers --------------------------------------------------------------------

    def answer(self, cls: type[OE], command: SubmitOrder, **fields: Any) -> OE:
        event = answer_submit(cls, command, self._ids, self.clock.timestamp_ns(), **fields)
        self.bus.publish(event)
        return event

    def accept(self, command: SubmitOrder) -> OrderAccepted:
        self._venue_ids += 1
        return self.answer(OrderAccepted, command, venue_order_id=VenueOrderId(f"V-{self._venue_ids}"))

    def fill(self, instrument: Instrument, command: SubmitOrder, qty: int, price: str) -> OrderFilled:
        spec = command.order
        event = make_fill(
            instrument,
            spec.side,
            qty,
            price,
            ts_ns=self.clock.timestamp_ns(),
            client_order_id=spec.client_order_id,
            strategy_id=spec.strategy_id,
            correlation_id=command.correlation_id,
            causation_id=command.id,
            ids=self._ids,
        )
        self.bus.publish(event)
        return event

    def order(self, command: SubmitOrder) -> Order:
        order = self.engine.order(command.order.client_order_id)
        assert order is not None
        return order

    def of(self, cls: type[E]) -> list[E]:
        return [e for e in self.seen if isinstance(e, cls)]


# -- registration ----------------------------------------------------------------------------


def test_submit_order_is_registered_before_any_lower_priority_handler_sees_the_command() -> None:
    rig = Rig()
    seen_by_late_handler: list[OrderStatus | None] = []

    def late(command: SubmitOrder) -> None:
        order = rig.engine.order(command.order.client_order_id)
        seen_by_late_handler.append(order.status if order is not None else None)

    rig.bus.subscribe(SubmitOrder, late, priority=0)
    command = rig.submit(rig.es, route=False)

    assert seen_by_late_handler == [OrderStatus.INITIALIZED]
    order = rig.order(command)
    assert order.spec is command.order
    assert rig.engine.open_orders() == [order]
    assert rig.cme.calls == []  # registering is not routing


def test_a_second_submit_with_a_known_client_order_id_is_refused_and_reported() -> None:
    rig = Rig()
    first = rig.submit(rig.es, route=False)
    duplicate = SubmitOrder(
        id="dup",
        correlation_id="dup-corr",
        ts_event=START_NS,
        ts_init=START_NS,
        strategy_id=STRATEGY,
        instrument_id=rig.es.id,
        order=msgspec.structs.replace(first.order, side=OrderSide.SELL),
    )

    rig.bus.publish(duplicate)

    assert rig.bus.handler_errors == 1
    (failure,) = rig.of(HandlerFailed)
    assert failure.correlation_id == "dup-corr"
    assert failure.causation_id == "dup"
    assert f"duplicate client order id {first.order.client_order_id}" in failure.error
    assert rig.order(first).spec is first.order  # the first order is untouched
    assert rig.order(first).side is OrderSide.BUY


# -- routing ---------------------------------------------------------------------------------


def test_approved_submit_publishes_order_submitted_then_calls_the_venue_of_the_instrument() -> None:
    rig = Rig()
    rig.clock.set_time(START_NS + 5)

    command = rig.submit(rig.es)

    (submitted,) = rig.of(OrderSubmitted)
    assert submitted.client_order_id == command.order.client_order_id
    assert submitted.correlation_id == command.correlation_id
    assert submitted.causation_id == command.id
    assert submitted.account_id == "CME-001"
    assert submitted.ts_event == submitted.ts_init == START_NS + 5
    # The venue is called after the order is SUBMITTED, so its answer is a legal transition.
    assert [(kind, status) for kind, _, status in rig.cme.calls] == [("submit", OrderStatus.SUBMITTED)]
    assert rig.cme.calls[0][1] is command
    assert rig.xnas.calls == []
    assert rig.engine.commands_routed == 1


def test_cancel_modify_and_cancel_all_go_to_the_venue_named_by_the_instrument_id() -> None:
    rig = Rig()
    es_order = rig.submit(rig.es)
    aapl_order = rig.submit(rig.aapl)
    fields: dict[str, Any] = {
        "ts_event": START_NS,
        "ts_init": START_NS,
        "correlation_id": "c",
        "strategy_id": STRATEGY,
    }
    modify = ModifyOrder(
        id="m",
        instrument_id=rig.aapl.id,
        client_order_id=aapl_order.order.client_order_id,
        quantity=Quantity.from_int(2),
        **fields,
    )
    cancel = CancelOrder(
        id="c", instrument_id=rig.es.id, client_order_id=es_order.order.client_order_id, **fields
    )
    cancel_all = CancelAllOrders(id="ca", instrument_id=rig.aapl.id, **fields)

    for command in (modify, cancel, cancel_all):
        rig.engine.execute(command)

    assert [(kind, cmd) for kind, cmd, _ in rig.cme.calls] == [("submit", es_order), ("cancel", cancel)]
    assert [(kind, cmd) for kind, cmd, _ in rig.xnas.calls] == [
        ("submit", aapl_order),
        ("modify", modify),
        ("cancel_all", cancel_all),
    ]
    assert rig.engine.commands_routed == 5
    assert len(rig.of(OrderSubmitted)) == 2  # only a submit announces itself


def test_risk_approved_submit_reaches_the_venue_and_its_answer_follows_order_submitted() -> None:
    rig = Rig(with_risk=True)
    rig.cme.accept_at_once = rig.bus
    spec = rig.engine.order_factory(STRATEGY).market(rig.es.id, OrderSide.BUY, Quantity.from_int(1))
    command = SubmitOrder(
        id="cmd-1",
        correlation_id="corr-1",
        ts_event=START_NS,
        ts_init=START_NS,
        strategy_id=STRATEGY,
        instrument_id=rig.es.id,
        order=spec,
    )

    rig.bus.publish(command)  # the risk engine forwards it to the endpoint; no manual send

    assert [(kind, cmd) for kind, cmd, _ in rig.cme.calls] == [("submit", command)]
    order = rig.order(command)
    assert [type(e) for e in order.events] == [OrderSubmitted, OrderAccepted]
    assert order.status is OrderStatus.ACCEPTED
    assert [e.correlation_id for e in order.events] == ["corr-1", "corr-1"]
    assert rig.bus.handler_errors == 0


def test_submit_for_a_venue_without_a_client_is_denied_and_leaves_the_open_orders() -> None:
    rig = Rig()
    btc = btcusdt()  # venue BINANCE: no client registered

    command = rig.submit(btc)

    (denied,) = rig.of(OrderDenied)
    assert denied.reason == "no execution client for venue BINANCE"
    assert denied.client_order_id == command.order.client_order_id
    assert (denied.correlation_id, denied.causation_id) == (command.correlation_id, command.id)
    assert rig.order(command).status is OrderStatus.DENIED
    assert rig.engine.open_orders() == []
    assert rig.of(OrderSubmitted) == []
    assert rig.engine.commands_routed == 0
    assert rig.bus.handler_errors == 0


def test_a_cancel_for_a_venue_without_a_client_raises_naming_the_venue() -> None:
    rig = Rig()
    cancel = CancelOrder(
        id="c",
        correlation_id="c",
        ts_event=START_NS,
        ts_init=START_NS,
        strategy_id=STRATEGY,
        instrument_id=rig.es.id.replace("CME", "ICE"),  # type: ignore[arg-type]
        client_order_id=ClientOrderId("O-x"),
    )

    with pytest.raises(TradeloopError, match="no execution client for venue ICE"):
        rig.engine.execute(cancel)


def test_registering_a_second_client_for_a_venue_is_refused() -> None:
    rig = Rig()
    with pytest.raises(TradeloopError, match="venue CME is already registered"):
        rig.engine.register_client(RecordingClient("CME", rig.engine))


# -- applying events -------------------------------------------------------------------------


def test_order_events_are_applied_before_any_lower_priority_handler_reads_the_order() -> None:
    rig = Rig()
    statuses: list[tuple[str, OrderStatus]] = []

    def reader(event: OrderEvent) -> None:
        order = rig.engine.order(event.client_order_id)
        assert order is not None
        statuses.append((type(event).__name__, order.status))

    rig.bus.subscribe(OrderEvent, reader, priority=999)  # just below the engine's 1000
    command = rig.submit(rig.es, qty=3)
    rig.accept(command)
    rig.fill(rig.es, command, 1, "5000.25")
    rig.fill(rig.es, command, 2, "5000.50")

    assert statuses == [
        ("OrderSubmitted", OrderStatus.SUBMITTED),
        ("OrderAccepted", OrderStatus.ACCEPTED),
        ("OrderFilled", OrderStatus.PARTIALLY_FILLED),
        ("OrderFilled", OrderStatus.FILLED),
    ]
    order = rig.order(command)
    assert order.venue_order_id == "V-1"
    assert order.filled_qty == Quantity.from_int(3)
    assert rig.engine.events_applied == 4


@pytest.mark.parametrize("closing", ["filled", "canceled", "rejected"])
def test_an_order_leaves_the_open_index_when_it_closes(closing: str) -> None:
    rig = Rig()
    command = rig.submit(rig.es, qty=2)
    if closing == "rejected":
        rig.answer(OrderRejected, command, reason="no")
    else:
        rig.accept(command)
        assert rig.engine.open_orders() == [rig.order(command)]
        rig.fill(rig.es, command, 1, "5000.00")
        assert rig.engine.open_order_count() == 1  # partially filled is still open
        if closing == "filled":
            rig.fill(rig.es, command, 1, "5000.00")
        else:
            rig.answer(OrderCanceled, command)

    assert rig.order(command).is_closed
    assert rig.engine.open_orders() == []
    assert rig.engine.open_order_count() == 0
    assert rig.engine.orders() == [rig.order(command)]  # the cache still knows it


def test_open_orders_filter_by_strategy_and_instrument() -> None:
    rig = Rig()
    a_es = rig.submit(rig.es, strategy=STRATEGY)
    a_aapl = rig.submit(rig.aapl, strategy=STRATEGY)
    b_es = rig.submit(rig.es, strategy=OTHER)
    for command in (a_es, a_aapl, b_es):
        rig.accept(command)
    done = rig.submit(rig.es, strategy=OTHER)
    rig.accept(done)
    rig.fill(rig.es, done, 1, "5000.00")

    def cids(orders: list[Order]) -> set[str]:
        return {o.client_order_id for o in orders}

    assert cids(rig.engine.open_orders()) == {
        a_es.order.client_order_id,
        a_aapl.order.client_order_id,
        b_es.order.client_order_id,
    }
    assert cids(rig.engine.open_orders(STRATEGY)) == {
        a_es.order.client_order_id,
        a_aapl.order.client_order_id,
    }
    assert cids(rig.engine.open_orders(instrument_id=rig.es.id)) == {
        a_es.order.client_order_id,
        b_es.order.client_order_id,
    }
    assert cids(rig.engine.open_orders(OTHER, rig.aapl.id)) == set()
    assert rig.engine.open_order_count(rig.es.id) == 2
    assert rig.engine.open_order_count(rig.aapl.id) == 1
    assert cids(rig.engine.orders(OTHER)) == {b_es.order.client_order_id, done.order.client_order_id}


def test_cancel_rejected_after_the_order_filled_is_ignored_not_an_error() -> None:
    rig = Rig()
    command = rig.submit(rig.es)
    rig.accept(command)
    rig.fill(rig.es, command, 1, "5000.00")
    applied = rig.engine.events_applied

    rig.answer(OrderCancelRejected, command, reason="order already filled")
    rig.answer(OrderModifyRejected, command, reason="order already filled")

    order = rig.order(command)
    assert order.status is OrderStatus.FILLED
    assert [type(e) for e in order.events][-1] is OrderFilled
    assert rig.engine.events_applied == applied
    assert rig.bus.handler_errors == 0
    assert rig.engine.event_errors == 0


def test_cancel_rejected_on_an_open_order_is_applied() -> None:
    rig = Rig()
    command = rig.submit(rig.es)
    rig.accept(command)

    rig.answer(OrderCancelRejected, command, reason="too late")

    order = rig.order(command)
    assert order.status is OrderStatus.ACCEPTED
    assert type(order.events[-1]) is OrderCancelRejected
    assert rig.engine.events_applied == 3


def test_an_event_for_an_unknown_order_is_reported_and_goes_no_further() -> None:
    rig = Rig()
    downstream: list[OrderEvent] = []
    rig.bus.subscribe(OrderAccepted, downstream.append)
    ghost = SubmitOrder(
        id="ghost-cmd",
        correlation_id="ghost-corr",
        ts_event=START_NS,
        ts_init=START_NS,
        strategy_id=STRATEGY,
        instrument_id=rig.es.id,
        order=msgspec.structs.replace(
            OrderFactory(STRATEGY).market(rig.es.id, OrderSide.BUY, Quantity.from_int(1)),
            client_order_id=ClientOrderId("O-ghost"),
        ),
    )

    event = rig.accept(ghost)

    assert rig.engine.event_errors == 1
    (failure,) = rig.of(HandlerFailed)
    assert failure.message_type == "OrderAccepted"
    assert failure.correlation_id == "ghost-corr"
    assert "unknown order O-ghost" in failure.error
    assert event is not None
    assert downstream == []  # rejected by the order's authority: no one downstream sees it


def test_an_illegal_transition_is_reported_and_leaves_the_order_as_it_was() -> None:
    rig = Rig()
    command = rig.submit(rig.es)
    rig.answer(OrderRejected, command, reason="closed market")

    rig.accept(command)  # REJECTED -> ACCEPTED is not in the table

    assert rig.order(command).status is OrderStatus.REJECTED
    (failure,) = rig.of(HandlerFailed)
    assert "OrderAccepted is not allowed in status REJECTED" in failure.error


def test_a_venue_client_that_raises_on_submit_leaves_the_order_rejected_not_hanging() -> None:
    class BrokenClient:
        venue = Venue("SIM")
        account_id = AccountId("SIM-001")

        def submit_order(self, command: SubmitOrder) -> None:
            raise ConnectionError("socket closed")

        def cancel_order(self, command: object) -> None: ...

        def modify_order(self, command: object) -> None: ...

        def cancel_all_orders(self, command: object) -> None: ...

    clock = TestClock(START_NS)
    bus = MessageBus(clock, id_factory(1))
    engine = ExecutionEngine(bus, clock, id_factory(2))
    engine.register_client(BrokenClient())
    bus.register_endpoint("route", engine.execute)
    spec = engine.order_factory(STRATEGY).market(InstrumentId("ES.SIM"), OrderSide.BUY, Quantity.from_int(1))
    command = SubmitOrder(
        id="cmd",
        correlation_id="corr",
        ts_event=START_NS,
        ts_init=START_NS,
        strategy_id=STRATEGY,
        instrument_id=spec.instrument_id,
        order=spec,
    )
    bus.subscribe(SubmitOrder, lambda c: bus.send("route", c, forward=True))
    bus.publish(command)
    order = engine.order(spec.client_order_id)
    assert order is not None
    assert order.status is OrderStatus.REJECTED
    assert "venue client error: ConnectionError: socket closed" in order.events[-1].reason  # type: ignore[attr-defined]
    assert bus.handler_errors == 1
