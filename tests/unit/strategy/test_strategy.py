"""Strategy base class: dispatch, lifecycle gating, correlation ids, commands, data and timers.

The rig is the real loop (bus, clock, portfolio, execution engine, risk engine without limits);
:class:`InstantVenue` stands in for a venue: it accepts every order at once and fills market
orders at a preset price, the way a zero-latency simulated venue would.
"""

from __future__ import annotations

from typing import Any

import pytest

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, TimeEvent
from tradeloop.core.component import ComponentState
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import AccountId, ClientOrderId, InstrumentId, Venue, VenueOrderId
from tradeloop.core.message import Event, HandlerFailed
from tradeloop.execution import ExecutionEngine
from tradeloop.model.account import Account
from tradeloop.model.commands import (
    CancelAllOrders,
    CancelOrder,
    ModifyOrder,
    SubmitOrder,
    TradingCommand,
)
from tradeloop.model.data import Bar, BarSpec, QuoteTick, TradeTick
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.events import (
    OrderAccepted,
    OrderEvent,
    OrderFilled,
    PositionEvent,
    PositionOpened,
    RegimeChanged,
)
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money, Price, Quantity
from tradeloop.portfolio import Portfolio
from tradeloop.risk import RiskEngine
from tradeloop.strategy import Strategy, StrategyConfig, StrategyContext
from tradeloop.testkit import (
    TestClock,
    aapl_equity,
    es_future,
    id_factory,
    make_bar,
    make_fill,
    make_quote,
    make_trade,
)

SEC = NANOS_PER_SECOND
START_NS = 1_700_000_040 * SEC
ES = es_future()
AAPL = aapl_equity()


class InstantVenue:
    """Accepts every order inside the call; fills market orders at ``price`` when one is set."""

    def __init__(self, venue: str, bus: MessageBus, clock: TestClock, instruments: list[Instrument]) -> None:
        self._venue = Venue(venue)
        self._bus = bus
        self._clock = clock
        self._instruments = {i.id: i for i in instruments}
        self._ids = id_factory(50)
        self.price: dict[InstrumentId, str] = {}
        self.commands: list[TradingCommand] = []

    @property
    def venue(self) -> Venue:
        return self._venue

    @property
    def account_id(self) -> AccountId:
        return AccountId("SIM-001")

    def submit_order(self, command: SubmitOrder) -> None:
        self.commands.append(command)
        spec = command.order
        now = self._clock.timestamp_ns()
        self._bus.publish(
            OrderAccepted(
                id=self._ids.new_id(),
                correlation_id=command.correlation_id,
                causation_id=command.id,
                ts_event=now,
                ts_init=now,
                strategy_id=spec.strategy_id,
                instrument_id=spec.instrument_id,
                client_order_id=spec.client_order_id,
                venue_order_id=VenueOrderId(f"V-{spec.client_order_id}"),
            )
        )
        price = self.price.get(spec.instrument_id)
        if spec.order_type is OrderType.MARKET and price is not None:
            self.fill(command, price)

    def fill(self, command: SubmitOrder, price: str) -> None:
        spec = command.order
        self._bus.publish(
            make_fill(
                self._instruments[spec.instrument_id],
                spec.side,
                spec.quantity,
                price,
                commission=Money.from_str("0", "USD"),
                ts_ns=self._clock.timestamp_ns(),
                client_order_id=spec.client_order_id,
                venue_order_id=f"V-{spec.client_order_id}",
                strategy_id=spec.strategy_id,
                correlation_id=command.correlation_id,
                causation_id=command.id,
                ids=self._ids,
            )
        )

    def cancel_order(self, command: CancelOrder) -> None:
        self.commands.append(command)

    def modify_order(self, command: ModifyOrder) -> None:
        self.commands.append(command)

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        self.commands.append(command)


class RecordingData:
    """The runtime's DataSubscriber port: records what strategies ask for."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, InstrumentId, BarSpec | None]] = []

    def subscribe_bars(self, instrument_id: InstrumentId, spec: BarSpec) -> None:
        self.requests.append(("bars", instrument_id, spec))

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        self.requests.append(("trades", instrument_id, None))

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        self.requests.append(("quotes", instrument_id, None))


class Rig:
    def __init__(self) -> None:
        self.clock = TestClock(START_NS)
        self.ids = id_factory(1)
        self.bus = MessageBus(self.clock, self.ids)
        self.portfolio = Portfolio(
            self.bus,
            self.clock,
            self.ids,
            Account(AccountId("SIM-001"), Money.from_str("1000000", "USD")),
            [ES, AAPL],
        )
        self.execution = ExecutionEngine(self.bus, self.clock, self.ids)
        self.risk = RiskEngine(self.bus, self.clock, self.ids, self.portfolio, self.execution)
        self.cme = InstantVenue("CME", self.bus, self.clock, [ES])
        self.xnas = InstantVenue("XNAS", self.bus, self.clock, [AAPL])
        self.execution.register_client(self.cme)
        self.execution.register_client(self.xnas)
        self.data = RecordingData()
        self.context = StrategyContext(
            bus=self.bus,
            clock=self.clock,
            ids=self.ids,
            portfolio=self.portfolio,
            execution=self.execution,
            instruments={ES.id: ES, AAPL.id: AAPL},
            data=self.data,
        )
        self.commands: list[TradingCommand] = []
        self.bus.subscribe(TradingCommand, self.commands.append)
        self.failures: list[HandlerFailed] = []
        self.bus.subscribe(HandlerFailed, self.failures.append)

    def add(self, strategy: Strategy, *, start: bool = True) -> Strategy:
        strategy.register(self.context)
        if start:
            strategy.start()
        return strategy

    def bar(self, instrument: Instrument = ES, close: str = "5000.00", spec: str = "1-MINUTE") -> Bar:
        self.clock.set_time(self.clock.timestamp_ns() + 60 * SEC)
        bar = make_bar(instrument, close, close, close, close, ts_ns=self.clock.timestamp_ns(), spec=spec)
        self.bus.publish(bar)
        return bar

    def submits(self) -> list[SubmitOrder]:
        return [c for c in self.commands if isinstance(c, SubmitOrder)]


def _config(name: str) -> StrategyConfig:
    return StrategyConfig(strategy_id=name)


class Tracer(Strategy):
    """Records every handler call as ``handler:EventType``."""

    def __init__(self, config: StrategyConfig | None = None) -> None:
        super().__init__(config)
        self.calls: list[str] = []

    def _note(self, handler: str, msg: Any) -> None:
        self.calls.append(f"{handler}:{type(msg).__name__}")


class AllHandlers(Tracer):
    def on_bar(self, bar: Bar) -> None:
        self._note("on_bar", bar)

    def on_order_filled(self, event: OrderFilled) -> None:
        self._note("on_order_filled", event)

    def on_order_event(self, event: OrderEvent) -> None:
        self._note("on_order_event", event)

    def on_position_opened(self, event: PositionOpened) -> None:
        self._note("on_position_opened", event)

    def on_position_event(self, event: PositionEvent) -> None:
        self._note("on_position_event", event)

    def on_regime_changed(self, event: RegimeChanged) -> None:
        self._note("on_regime_changed", event)

    def on_event(self, event: Event) -> None:
        self._note("on_event", event)


class OnlyGeneric(Tracer):
    def on_event(self, event: Event) -> None:
        self._note("on_event", event)


class OnlyFilled(Tracer):
    def on_order_filled(self, event: OrderFilled) -> None:
        self._note("on_order_filled", event)


class InheritsHandlers(AllHandlers):
    """Overrides nothing itself: the handlers of its base class still count."""


def buy(strategy: Strategy, instrument: Instrument = ES, qty: int = 1) -> SubmitOrder | None:
    strategy.submit_order(strategy.order_factory.market(instrument.id, OrderSide.BUY, Quantity.from_int(qty)))
    return None


def regime(rig: Rig) -> RegimeChanged:
    now = rig.clock.timestamp_ns()
    event = RegimeChanged(
        id="r-1",
        correlation_id="r-corr",
        ts_event=now,
        ts_init=now,
        instrument_id=ES.id,
        regime="TRENDING",
        previous="RANGING",
    )
    rig.bus.publish(event)
    return event


# -- identity and wiring ---------------------------------------------------------------------


def test_the_strategy_id_defaults_to_the_class_name_and_the_config_can_set_it() -> None:
    assert OnlyGeneric().id == "OnlyGeneric-001"
    assert OnlyGeneric(_config("alpha")).id == "alpha"
    assert OnlyGeneric(_config("alpha")).name == "alpha"


def test_a_strategy_needs_a_context_and_registers_only_once() -> None:
    rig = Rig()
    strategy = OnlyGeneric()
    with pytest.raises(TradeloopError, match="OnlyGeneric-001 is not registered"):
        _ = strategy.portfolio
    rig.add(strategy, start=False)
    with pytest.raises(TradeloopError, match="already registered"):
        strategy.register(rig.context)
    assert strategy.instrument("ESZ4.CME") is ES
    with pytest.raises(TradeloopError, match=r"unknown instrument NOPE\.X"):
        strategy.instrument("NOPE.X")


# -- dispatch order --------------------------------------------------------------------------


def test_events_reach_the_specific_then_the_family_then_the_generic_handler() -> None:
    rig = Rig()
    rig.cme.price[ES.id] = "5000.25"
    strategy = rig.add(AllHandlers())
    assert isinstance(strategy, AllHandlers)

    buy(strategy)
    regime(rig)

    assert strategy.calls == [
        "on_order_event:OrderSubmitted",
        "on_event:OrderSubmitted",
        "on_order_event:OrderAccepted",
        "on_event:OrderAccepted",
        "on_order_filled:OrderFilled",
        "on_order_event:OrderFilled",
        "on_event:OrderFilled",
        "on_position_opened:PositionOpened",
        "on_position_event:PositionOpened",
        "on_event:PositionOpened",
        "on_regime_changed:RegimeChanged",
        "on_event:RegimeChanged",
    ]


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (
            OnlyGeneric,
            [
                "on_event:OrderSubmitted",
                "on_event:OrderAccepted",
                "on_event:OrderFilled",
                "on_event:PositionOpened",
            ],
        ),
        (OnlyFilled, ["on_order_filled:OrderFilled"]),
        (
            InheritsHandlers,
            [
                "on_order_event:OrderSubmitted",
                "on_event:OrderSubmitted",
                "on_order_event:OrderAccepted",
                "on_event:OrderAccepted",
                "on_order_filled:OrderFilled",
                "on_order_event:OrderFilled",
                "on_event:OrderFilled",
                "on_position_opened:PositionOpened",
                "on_position_event:PositionOpened",
                "on_event:PositionOpened",
            ],
        ),
    ],
)
def test_only_the_handlers_a_strategy_overrides_are_called(cls: type[Tracer], expected: list[str]) -> None:
    rig = Rig()
    rig.cme.price[ES.id] = "5000.25"
    strategy = rig.add(cls())
    assert isinstance(strategy, Tracer)

    buy(strategy)

    assert strategy.calls == expected


def test_events_of_other_strategies_are_ignored_but_shared_events_reach_everyone() -> None:
    rig = Rig()
    rig.cme.price[ES.id] = "5000.25"
    mine = rig.add(OnlyGeneric(_config("mine")))
    other = rig.add(OnlyGeneric(_config("other")))
    assert isinstance(mine, Tracer)
    assert isinstance(other, Tracer)

    buy(other)
    regime(rig)

    assert mine.calls == ["on_event:RegimeChanged"]
    assert other.calls[-1] == "on_event:RegimeChanged"
    assert len(other.calls) == 5


# -- lifecycle gating ------------------------------------------------------------------------


def test_handlers_run_only_while_the_strategy_is_running() -> None:
    rig = Rig()
    strategy = rig.add(AllHandlers(), start=False)
    assert isinstance(strategy, AllHandlers)
    strategy.subscribe_bars(ES.id)

    rig.bar()
    regime(rig)
    assert strategy.calls == []

    strategy.start()
    rig.bar()
    limit = strategy.order_factory.limit(
        ES.id, OrderSide.BUY, Quantity.from_int(1), Price.from_str("4000.00")
    )
    strategy.submit_order(limit)
    strategy.stop()
    assert strategy.state is ComponentState.STOPPED
    calls_when_stopped = list(strategy.calls)

    rig.bar()
    regime(rig)
    (command,) = rig.submits()
    rig.cme.fill(command, "4000.00")  # the resting order fills after the stop

    assert calls_when_stopped[0] == "on_bar:Bar"
    assert strategy.calls == calls_when_stopped
    assert rig.portfolio.position(strategy.id, ES.id) is not None  # the portfolio still books it


# -- correlation ids -------------------------------------------------------------------------


class ReactsToFills(Strategy):
    """Protects every fill with a stop and a target, submitted from the fill handler."""

    def on_order_filled(self, event: OrderFilled) -> None:
        if event.order_side is OrderSide.BUY:
            factory = self.order_factory
            qty = event.last_qty
            self.submit_order(factory.stop_market(ES.id, OrderSide.SELL, qty, Price.from_str("4900.00")))
            self.submit_order(factory.limit(ES.id, OrderSide.SELL, qty, Price.from_str("5100.00")))


def test_commands_sent_while_handling_an_event_carry_its_correlation_and_id_as_causation() -> None:
    rig = Rig()
    rig.cme.price[ES.id] = "5000.00"
    strategy = rig.add(ReactsToFills())
    fills: list[OrderFilled] = []
    rig.bus.subscribe(OrderFilled, fills.append)

    buy(strategy)

    entry, stop, target = rig.submits()
    (fill,) = fills
    assert (stop.correlation_id, stop.causation_id) == (fill.correlation_id, fill.id)
    assert (target.correlation_id, target.causation_id) == (fill.correlation_id, fill.id)
    assert fill.correlation_id == entry.correlation_id  # the whole cycle shares one id


class TwoOrdersPerBar(Strategy):
    def on_start(self) -> None:
        self.subscribe_bars(ES.id)

    def on_bar(self, bar: Bar) -> None:
        buy(self)
        buy(self)


def test_each_market_data_cycle_gets_one_fresh_correlation_id_shared_by_its_commands() -> None:
    rig = Rig()
    strategy = rig.add(TwoOrdersPerBar())

    rig.bar()
    rig.bar()

    first_a, first_b, second_a, second_b = rig.submits()
    assert first_a.correlation_id == first_b.correlation_id
    assert second_a.correlation_id == second_b.correlation_id
    assert first_a.correlation_id != second_a.correlation_id
    assert {c.causation_id for c in rig.submits()} == {None}
    assert all(c.strategy_id == strategy.id for c in rig.submits())


class TwoOrdersPerTimer(Strategy):
    def on_start(self) -> None:
        self.set_timer("rebalance", 10 * SEC)

    def on_time_event(self, event: TimeEvent) -> None:
        buy(self)
        buy(self)


def test_commands_sent_from_one_timer_callback_share_one_correlation_id() -> None:
    rig = Rig()
    rig.cme.price[ES.id] = "5000.00"  # the venue answers inside the call, as with zero latency
    rig.add(TwoOrdersPerTimer())

    rig.clock.advance_time(START_NS + 10 * SEC)

    first, second = rig.submits()
    assert first.correlation_id == second.correlation_id
    assert first.causation_id is second.causation_id is None


# -- commands --------------------------------------------------------------------------------


def test_cancel_modify_and_cancel_all_name_the_strategy_its_order_and_instrument() -> None:
    rig = Rig()
    strategy = rig.add(OnlyGeneric())
    spec = strategy.order_factory.limit(ES.id, OrderSide.BUY, Quantity.from_int(2), Price.from_str("4000.00"))
    strategy.submit_order(spec)
    order = rig.execution.order(spec.client_order_id)
    assert order is not None

    strategy.modify_order(order, price=Price.from_str("4001.00"), quantity=Quantity.from_int(3))
    strategy.cancel_order(spec.client_order_id)
    strategy.cancel_all_orders("ESZ4.CME")

    _, modify, cancel, cancel_all = rig.commands
    assert isinstance(modify, ModifyOrder)
    assert (modify.client_order_id, modify.price, modify.quantity, modify.trigger_price) == (
        spec.client_order_id,
        Price.from_str("4001.00"),
        Quantity.from_int(3),
        None,
    )
    assert isinstance(cancel, CancelOrder)
    assert cancel.client_order_id == spec.client_order_id
    assert isinstance(cancel_all, CancelAllOrders)
    for command in (modify, cancel, cancel_all):
        assert (command.strategy_id, command.instrument_id) == (strategy.id, ES.id)
    assert rig.cme.commands[1:] == [modify, cancel, cancel_all]  # routed to the venue
    assert strategy.open_orders() == [order]
    assert strategy.open_orders(AAPL.id) == []


def test_a_strategy_cannot_submit_or_cancel_another_strategys_orders() -> None:
    rig = Rig()
    mine = rig.add(OnlyGeneric(_config("mine")))
    other = rig.add(OnlyGeneric(_config("other")))
    spec = other.order_factory.limit(ES.id, OrderSide.BUY, Quantity.from_int(1), Price.from_str("4000.00"))

    with pytest.raises(TradeloopError, match="mine cannot submit an order of strategy other"):
        mine.submit_order(spec)
    other.submit_order(spec)
    with pytest.raises(TradeloopError, match="no order 'O-other-1' of this strategy"):
        mine.cancel_order(spec.client_order_id)
    with pytest.raises(TradeloopError, match="no order 'O-nope' of this strategy"):
        mine.modify_order(ClientOrderId("O-nope"), price=Price.from_str("1.00"))
    assert len(rig.submits()) == 1


def test_close_position_flattens_with_a_reduce_only_market_order() -> None:
    rig = Rig()
    rig.cme.price[ES.id] = "5000.00"
    rig.xnas.price[AAPL.id] = "150.00"
    strategy = rig.add(OnlyGeneric())

    assert strategy.close_position(ES.id) is False
    assert rig.submits() == []

    buy(strategy, ES, qty=3)
    strategy.submit_order(strategy.order_factory.market(AAPL.id, OrderSide.SELL, Quantity.from_int(10)))
    assert strategy.close_position(ES.id, tags=("exit",)) is True
    assert strategy.close_position("AAPL.XNAS") is True

    close_es, close_aapl = rig.submits()[2:]
    assert (close_es.order.side, close_es.order.quantity) == (OrderSide.SELL, Quantity.from_int(3))
    assert (close_aapl.order.side, close_aapl.order.quantity) == (OrderSide.BUY, Quantity.from_int(10))
    assert close_es.order.reduce_only
    assert close_aapl.order.reduce_only
    assert close_es.order.order_type is OrderType.MARKET
    assert close_es.order.tags == ("exit",)
    assert strategy.position(ES.id) is None
    assert strategy.position(AAPL.id) is None
    assert rig.portfolio.is_flat()


# -- market data subscriptions ---------------------------------------------------------------


class DataTracer(Tracer):
    def on_bar(self, bar: Bar) -> None:
        self.calls.append(f"bar {bar.instrument_id} {bar.spec}")

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.calls.append(f"trade {tick.instrument_id}")

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.calls.append(f"quote {tick.instrument_id}")


def test_bars_are_delivered_only_for_subscribed_instrument_and_spec_pairs() -> None:
    rig = Rig()
    strategy = rig.add(DataTracer())
    assert isinstance(strategy, DataTracer)
    strategy.subscribe_bars(ES.id, "1-MINUTE")
    strategy.subscribe_bars("ESZ4.CME", BarSpec.parse("1-MINUTE"))  # again: still one delivery
    strategy.subscribe_bars(AAPL.id, "5-MINUTE")

    rig.bar(ES, spec="5-MINUTE")
    rig.bar(AAPL, "150.00", spec="1-MINUTE")
    rig.bar(ES, spec="1-MINUTE")
    rig.bar(AAPL, "150.00", spec="5-MINUTE")

    assert strategy.calls == ["bar ESZ4.CME 1-MINUTE", "bar AAPL.XNAS 5-MINUTE"]
    assert rig.data.requests == [
        ("bars", ES.id, BarSpec.parse("1-MINUTE")),
        ("bars", ES.id, BarSpec.parse("1-MINUTE")),
        ("bars", AAPL.id, BarSpec.parse("5-MINUTE")),
    ]


def test_trade_and_quote_ticks_are_delivered_only_for_subscribed_instruments() -> None:
    rig = Rig()
    strategy = rig.add(DataTracer())
    assert isinstance(strategy, DataTracer)
    strategy.subscribe_trade_ticks(ES.id)
    strategy.subscribe_quote_ticks(AAPL.id)

    rig.bus.publish(make_trade(AAPL, "150.00"))
    rig.bus.publish(make_trade(ES, "5000.00"))
    rig.bus.publish(make_quote(ES, "5000.00", "5000.25"))
    rig.bus.publish(make_quote(AAPL, "150.00", "150.01"))

    assert strategy.calls == ["trade ESZ4.CME", "quote AAPL.XNAS"]
    assert [(kind, iid) for kind, iid, _ in rig.data.requests] == [("trades", ES.id), ("quotes", AAPL.id)]


# -- timers ----------------------------------------------------------------------------------


class TimerTracer(Tracer):
    def on_start(self) -> None:
        self.set_timer("tick", 10 * SEC)
        self.set_time_alert("once", START_NS + 25 * SEC)

    def on_time_event(self, event: TimeEvent) -> None:
        self.calls.append(f"{event.name}@{(event.ts_event - START_NS) // SEC}")


def test_timers_and_alerts_fire_in_time_order_while_running() -> None:
    rig = Rig()
    strategy = rig.add(TimerTracer())
    assert isinstance(strategy, TimerTracer)

    rig.clock.advance_time(START_NS + 35 * SEC)
    strategy.stop()
    rig.clock.advance_time(START_NS + 60 * SEC)

    assert strategy.calls == [
        "TimerTracer-001.tick@10",
        "TimerTracer-001.tick@20",
        "TimerTracer-001.once@25",
        "TimerTracer-001.tick@30",
    ]


# -- isolation of failures -------------------------------------------------------------------


class FailsOnSecondBar(Tracer):
    def on_start(self) -> None:
        self.subscribe_bars(ES.id)

    def on_bar(self, bar: Bar) -> None:
        self.calls.append("bar")
        if len(self.calls) == 2:
            raise ValueError("boom")


class FailsOnFill(Strategy):
    def on_order_filled(self, event: OrderFilled) -> None:
        raise RuntimeError("cannot handle fills")


def test_a_raising_bar_handler_is_reported_and_the_next_bar_is_still_handled() -> None:
    rig = Rig()
    strategy = rig.add(FailsOnSecondBar())
    assert isinstance(strategy, FailsOnSecondBar)

    for _ in range(3):
        rig.bar()

    assert strategy.calls == ["bar", "bar", "bar"]
    assert rig.bus.handler_errors == 1
    (failure,) = rig.failures
    assert failure.message_type == "Bar"
    assert "_handle_bar" in failure.handler
    assert failure.error == "ValueError: boom"
    assert strategy.state is ComponentState.RUNNING


def test_a_raising_event_handler_is_reported_with_the_event_correlation_and_others_still_run() -> None:
    rig = Rig()
    rig.cme.price[ES.id] = "5000.00"
    failing = rig.add(FailsOnFill(_config("failing")))
    witness = rig.add(OnlyGeneric(_config("witness")))
    fills: list[OrderFilled] = []
    rig.bus.subscribe(OrderFilled, fills.append)

    buy(failing)

    (fill,) = fills
    (failure,) = rig.failures
    assert failure.message_type == "OrderFilled"
    assert (failure.correlation_id, failure.causation_id) == (fill.correlation_id, fill.id)
    assert "cannot handle fills" in failure.error
    assert rig.portfolio.position(failing.id, ES.id) is not None  # booked before the strategy ran
    assert isinstance(witness, Tracer)
    assert witness.calls == []
    assert failing.state is ComponentState.RUNNING
