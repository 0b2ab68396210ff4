"""A real risk rig for the breaker, correlation and authorisation tests.

Bus, clock, portfolio, execution engine, risk engine and circuit breakers are the real
components; :class:`Venue` stands in for a venue client: it records what reaches it, answers
nothing by itself, and fills an order when a test asks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.ids import AccountId, ClientOrderId, IdFactory, StrategyId
from tradeloop.core.ids import Venue as VenueName
from tradeloop.core.message import Command, Event, HandlerFailed
from tradeloop.execution import ExecutionEngine, OrderFactory
from tradeloop.model.account import Account
from tradeloop.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, OrderSpec, SubmitOrder
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderCanceled, OrderDenied
from tradeloop.model.instruments import Equity, Instrument
from tradeloop.model.objects import Money, Price, Quantity
from tradeloop.portfolio import Portfolio
from tradeloop.risk import CircuitBreakers, RiskConfig, RiskEngine, TradingState
from tradeloop.testkit import TestClock, aapl_equity, es_future, make_bar, make_fill, make_trade
from tradeloop.venues.simulated import SimulatedExchange, SimulatedVenueConfig

DAY_NS = 86_400 * NANOS_PER_SECOND
START_NS = 20_000 * DAY_NS + 14 * 3_600 * NANOS_PER_SECOND  # 14:00 UTC on some day
STRATEGY = StrategyId("S-1")
ACCOUNT = AccountId("SIM-001")
BUY, SELL = OrderSide.BUY, OrderSide.SELL

M = TypeVar("M")


class Venue:
    """A fake execution client: records every command; fills and cancels on request."""

    def __init__(self, venue: str, bus: MessageBus, clock: TestClock, ids: IdFactory) -> None:
        self._venue = VenueName(venue)
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self.submitted: list[SubmitOrder] = []
        self.canceled: list[CancelOrder] = []
        self.modified: list[ModifyOrder] = []
        self.canceled_all: list[CancelAllOrders] = []

    @property
    def venue(self) -> VenueName:
        return self._venue

    @property
    def account_id(self) -> AccountId:
        return ACCOUNT

    def submit_order(self, command: SubmitOrder) -> None:
        self.submitted.append(command)

    def cancel_order(self, command: CancelOrder) -> None:
        self.canceled.append(command)

    def modify_order(self, command: ModifyOrder) -> None:
        self.modified.append(command)

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        self.canceled_all.append(command)

    def fill(self, instrument: Instrument, command: SubmitOrder, price: str, qty: str | None = None) -> None:
        """Fill the order at ``price`` (all of it, or ``qty``), as the venue would report it."""
        spec = command.order
        self._bus.publish(
            make_fill(
                instrument,
                spec.side,
                spec.quantity if qty is None else instrument.make_qty(qty),
                price,
                ts_ns=self._clock.timestamp_ns(),
                client_order_id=spec.client_order_id,
                strategy_id=spec.strategy_id,
                account_id=ACCOUNT,
                correlation_id=command.correlation_id,
                causation_id=command.id,
                ids=self._ids,
            )
        )

    def confirm_cancel(self, command: SubmitOrder) -> None:
        """Report the order canceled, as the venue would after a cancel request."""
        now = self._clock.timestamp_ns()
        self._bus.publish(
            OrderCanceled(
                id=self._ids.new_id(),
                correlation_id=command.correlation_id,
                causation_id=command.id,
                ts_event=now,
                ts_init=now,
                strategy_id=command.strategy_id,
                instrument_id=command.instrument_id,
                client_order_id=command.order.client_order_id,
            )
        )


class Rig:
    """Strategy-side helpers around a real risk engine and its circuit breakers."""

    def __init__(
        self,
        config: RiskConfig | None = None,
        *,
        cash: str = "100000",
        extra: tuple[Instrument, ...] = (),
        breakers: bool = True,
        start_ns: int = START_NS,
        simulated_xnas: SimulatedVenueConfig | None = None,
    ) -> None:
        self.clock = TestClock(start_ns)
        self.ids = IdFactory(0)
        self.bus = MessageBus(self.clock, self.ids)
        self.seen: list[Any] = []
        self.bus.subscribe(Event, self.seen.append, priority=-1)
        self.bus.subscribe(Command, self.seen.append, priority=-1)
        self.aapl = aapl_equity()
        self.es = es_future()
        self.msft = Equity("MSFT.XNAS")
        self.xom = Equity("XOM.XNAS")
        instruments = [self.aapl, self.es, self.msft, self.xom, *extra]
        self.portfolio = Portfolio(
            self.bus, self.clock, self.ids, Account(ACCOUNT, Money.from_str(cash, "USD")), instruments
        )
        self.execution = ExecutionEngine(self.bus, self.clock, self.ids)
        self.venues = {name: Venue(name, self.bus, self.clock, self.ids) for name in ("XNAS", "CME")}
        if simulated_xnas is not None:  # a real simulated venue instead of the fake one
            del self.venues["XNAS"]
            self.exchange = SimulatedExchange(
                VenueName("XNAS"),
                bus=self.bus,
                clock=self.clock,
                ids=self.ids,
                instruments=[i for i in instruments if i.venue == "XNAS"],
                config=simulated_xnas,
            )
            self.execution.register_client(self.exchange)
        for venue in self.venues.values():
            self.execution.register_client(venue)
        self.risk = RiskEngine(self.bus, self.clock, self.ids, self.portfolio, self.execution, config)
        self.breakers = (
            CircuitBreakers(self.bus, self.clock, self.ids, self.risk, self.portfolio, self.execution)
            if breakers
            else None
        )
        self.orders: OrderFactory = self.execution.order_factory(STRATEGY)

    # -- reads -------------------------------------------------------------------------------

    def of(self, kind: type[M]) -> list[M]:
        return [m for m in self.seen if isinstance(m, kind)]

    def denials(self) -> list[str]:
        return [d.reason for d in self.of(OrderDenied)]

    @property
    def failures(self) -> list[HandlerFailed]:
        return self.of(HandlerFailed)

    @property
    def state(self) -> TradingState:
        return self.risk.trading_state

    @property
    def xnas(self) -> Venue:
        return self.venues["XNAS"]

    @property
    def cme(self) -> Venue:
        return self.venues["CME"]

    def reached_venue(self, command: SubmitOrder) -> bool:
        return any(command is c for v in self.venues.values() for c in v.submitted)

    def last_submitted(self, instrument: Instrument) -> SubmitOrder | None:
        submitted = self.venues[instrument.venue].submitted
        return submitted[-1] if submitted else None

    def status(self, command: SubmitOrder) -> str:
        order = self.execution.order(ClientOrderId(command.order.client_order_id))
        assert order is not None
        return order.status.value

    # -- a strategy --------------------------------------------------------------------------

    def command(self, spec: OrderSpec) -> SubmitOrder:
        """The submit command for ``spec``, not yet published."""
        now = self.clock.timestamp_ns()
        return SubmitOrder(
            id=self.ids.new_id(),
            correlation_id=self.ids.new_id(),
            ts_event=now,
            ts_init=now,
            strategy_id=spec.strategy_id,
            instrument_id=spec.instrument_id,
            order=spec,
        )

    def submit(self, spec: OrderSpec) -> SubmitOrder:
        command = self.command(spec)
        self.bus.publish(command)
        return command

    def market(
        self, instrument: Instrument, side: OrderSide, qty: str, *, reduce_only: bool = False
    ) -> SubmitOrder:
        return self.submit(
            self.orders.market(instrument.id, side, instrument.make_qty(qty), reduce_only=reduce_only)
        )

    def limit(self, instrument: Instrument, side: OrderSide, qty: str, price: str) -> SubmitOrder:
        return self.submit(
            self.orders.limit(instrument.id, side, instrument.make_qty(qty), instrument.make_price(price))
        )

    def modify_qty(self, command: SubmitOrder, qty: str) -> ModifyOrder:
        instrument = self.portfolio.instrument(command.instrument_id)
        return self.modify(command, quantity=instrument.make_qty(qty))

    def modify(
        self, command: SubmitOrder, *, quantity: Quantity | None = None, price: Price | None = None
    ) -> ModifyOrder:
        now = self.clock.timestamp_ns()
        modify = ModifyOrder(
            id=self.ids.new_id(),
            correlation_id=command.correlation_id,
            causation_id=command.id,
            ts_event=now,
            ts_init=now,
            strategy_id=command.strategy_id,
            instrument_id=command.instrument_id,
            client_order_id=command.order.client_order_id,
            quantity=quantity,
            price=price,
        )
        self.bus.publish(modify)
        return modify

    def cancel(self, command: SubmitOrder) -> CancelOrder:
        now = self.clock.timestamp_ns()
        cancel = CancelOrder(
            id=self.ids.new_id(),
            correlation_id=command.correlation_id,
            causation_id=command.id,
            ts_event=now,
            ts_init=now,
            strategy_id=command.strategy_id,
            instrument_id=command.instrument_id,
            client_order_id=command.order.client_order_id,
        )
        self.bus.publish(cancel)
        return cancel

    # -- the market --------------------------------------------------------------------------

    def trade(self, instrument: Instrument, price: str) -> None:
        self.bus.publish(make_trade(instrument, price, ts_ns=self.clock.timestamp_ns()))

    def bar(self, instrument: Instrument, close: str) -> None:
        self.bus.publish(make_bar(instrument, close, close, close, close, ts_ns=self.clock.timestamp_ns()))

    def hold(self, instrument: Instrument, side: OrderSide, qty: str, price: str) -> SubmitOrder:
        """Build a position through the real flow: market order, approval, venue fill."""
        self.trade(instrument, price)
        command = self.market(instrument, side, qty)
        assert self.reached_venue(command), f"the setup order was denied: {self.denials()}"
        self.venues[instrument.venue].fill(instrument, command, price)
        return command

    def advance(self, seconds: Decimal | int) -> None:
        self.clock.advance_time(self.clock.timestamp_ns() + int(Decimal(seconds) * NANOS_PER_SECOND))
