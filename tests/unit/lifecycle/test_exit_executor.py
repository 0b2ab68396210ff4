"""ExitExecutor scenarios on the real simulated venue, through the bus.

Each test wires the components by hand (as a node does), opens a position with an ordinary
market order, feeds quotes or trades the way the backtest engine does (venue first, then the
bus), moves the clock to fire timeouts and publishes ``ExitTriggered`` itself. Every message
on the bus is recorded in order, so a test can check what was sent, when and caused by what.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_MILLI, NANOS_PER_SECOND, SimulatedClock
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import IdFactory, PositionId, StrategyId, Venue
from tradeloop.core.message import Command, Event, HandlerFailed, Message
from tradeloop.execution import ExecutionEngine
from tradeloop.lifecycle.book import PriceCache
from tradeloop.lifecycle.events import (
    EXIT_PRIORITY,
    ExitCompleted,
    ExitEscalated,
    ExitFailed,
    ExitPriority,
    ExitReason,
    ExitTriggered,
)
from tradeloop.lifecycle.exit_executor import ExitExecutor
from tradeloop.lifecycle.methods import ExecutionSettings, MethodConfig, PriorityExecution
from tradeloop.model.account import Account
from tradeloop.model.commands import CancelOrder, ModifyOrder, SubmitOrder
from tradeloop.model.data import QuoteTick, TradeTick
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType
from tradeloop.model.events import Alert, AlertSeverity, OrderCanceled, OrderFilled
from tradeloop.model.instruments import BinaryEventContract, Equity, Instrument
from tradeloop.model.objects import Money, Price
from tradeloop.model.position import Position
from tradeloop.portfolio import Portfolio
from tradeloop.risk import RiskConfig, RiskEngine, TradingState
from tradeloop.venues.simulated import (
    AccountType,
    FaultConfig,
    FillModel,
    LatencyModel,
    SimulatedExchange,
    SimulatedVenueConfig,
)

M = TypeVar("M", bound=Message)

SEC = NANOS_PER_SECOND
T0 = 1_704_207_600 * SEC  # 2024-01-02 15:00 UTC
VENUE = Venue("SIM")
STRATEGY = StrategyId("S-1")
OTHER = StrategyId("S-2")
AAPL = Equity("AAPL.SIM")
RAIN = BinaryEventContract("RAIN.SIM")

NEVER_FILL = FaultConfig(never_fill_limit_orders=True)


def run(
    style: str, timeout: int = 10, escalation: str = "walk_then_market", **fields: Any
) -> PriorityExecution:
    """One priority's execution settings (``timeout`` in seconds)."""
    return PriorityExecution.model_validate(
        {"style": style, "timeout_seconds": timeout, "escalation": escalation, **fields}
    )


def method(**priorities: PriorityExecution) -> dict[str, MethodConfig]:
    """The methods map with one method ``m`` (the defaults for priorities not given)."""
    return {"m": MethodConfig(execution=ExecutionSettings(**priorities))}


class Rig:
    """Clock, bus, execution, venue, portfolio, risk, price cache and exit executor."""

    def __init__(
        self,
        *,
        methods: dict[str, MethodConfig] | None = None,
        faults: FaultConfig | None = None,
        account_type: AccountType = AccountType.CASH,
        latency_ns: int = 0,
        fill_model: FillModel | None = None,
        market_retries: int = 1,
    ) -> None:
        self.clock = SimulatedClock(T0)
        self.ids = IdFactory(11)
        self.bus = MessageBus(self.clock, self.ids)
        self.execution = ExecutionEngine(self.bus, self.clock, self.ids)
        config = SimulatedVenueConfig(
            starting_balances=Money.from_str("1000000", "USD"),
            account_type=account_type,
            faults=faults or FaultConfig(),
            latency_model=LatencyModel(base_ns=latency_ns),
            fill_model=fill_model or FillModel(),
        )
        self.venue = SimulatedExchange(
            VENUE, bus=self.bus, clock=self.clock, ids=IdFactory(12), instruments=[AAPL, RAIN], config=config
        )
        self.execution.register_client(self.venue)
        self.portfolio = Portfolio(
            self.bus,
            self.clock,
            self.ids,
            Account(self.venue.account_id, config.starting_balances),
            [AAPL, RAIN],
        )
        self.risk = RiskEngine(self.bus, self.clock, self.ids, self.portfolio, self.execution, RiskConfig())
        self.prices = PriceCache(self.bus, self.clock)
        self.exits = ExitExecutor(
            self.bus,
            self.clock,
            self.ids,
            self.execution,
            self.portfolio,
            self.prices,
            methods if methods is not None else method(),
            market_retries=market_retries,
        )
        self.log: list[Message] = []
        self.bus.subscribe(Event, self.log.append, priority=-100)
        self.bus.subscribe(Command, self.log.append, priority=-100)

    # -- time and market data ----------------------------------------------------------------

    def _to(self, ts: int) -> None:
        """Move to ``ts`` as the backtest loop does: due timers first, then the venue."""
        if ts >= self.clock.next_due_ns:
            self.clock.advance_time(ts)
        else:
            self.clock.set_time(ts)
        self.venue.advance_time(ts)

    def wait(self, seconds: int | str) -> None:
        self._to(self.clock.timestamp_ns() + int(Decimal(seconds) * SEC))

    def quote(
        self, bid: str, ask: str, *, size: str = "1000", instrument: Instrument = AAPL, dt_ms: int = 1000
    ) -> None:
        ts = self.clock.timestamp_ns() + dt_ms * NANOS_PER_MILLI
        self._to(ts)
        tick = QuoteTick(
            instrument_id=instrument.id,
            bid_price=instrument.make_price(bid),
            ask_price=instrument.make_price(ask),
            bid_size=instrument.make_qty(size),
            ask_size=instrument.make_qty(size),
            ts_event=ts,
            ts_init=ts,
        )
        self.venue.process_quote_tick(tick)
        self.bus.publish(tick)

    def trade(self, price: str, *, instrument: Instrument = AAPL, dt_ms: int = 1000) -> None:
        ts = self.clock.timestamp_ns() + dt_ms * NANOS_PER_MILLI
        self._to(ts)
        tick = TradeTick(
            instrument_id=instrument.id,
            price=instrument.make_price(price),
            size=instrument.make_qty("1000"),
            ts_event=ts,
            ts_init=ts,
        )
        self.venue.process_trade_tick(tick)
        self.bus.publish(tick)

    # -- what a strategy and the monitor do ---------------------------------------------------

    def submit_market(
        self, side: str, qty: str, *, instrument: Instrument = AAPL, strategy: StrategyId = STRATEGY
    ) -> SubmitOrder:
        spec = self.execution.order_factory(strategy).market(
            instrument.id, OrderSide(side), instrument.make_qty(qty)
        )
        now = self.clock.timestamp_ns()
        command = SubmitOrder(
            id=self.ids.new_id(),
            correlation_id=self.ids.new_id(),
            ts_event=now,
            ts_init=now,
            strategy_id=strategy,
            instrument_id=instrument.id,
            order=spec,
        )
        self.bus.publish(command)
        return command

    def open(
        self,
        side: str = "BUY",
        qty: str = "10",
        *,
        bid: str = "100.00",
        ask: str = "100.03",
        instrument: Instrument = AAPL,
        strategy: StrategyId = STRATEGY,
        trades_only: bool = False,
    ) -> Position:
        """Open a position with a market order; ``bid``/``ask`` stay the market afterwards."""
        feed = (lambda: self.trade(bid, instrument=instrument)) if trades_only else None
        step = feed or (lambda: self.quote(bid, ask, instrument=instrument))
        step()  # a CASH venue prices a market buy from the last known market
        self.submit_market(side, qty, instrument=instrument, strategy=strategy)
        for _ in range(20):  # partial-fill venues need several data points
            step()
            position = self.portfolio.position(strategy, instrument.id)
            if position is not None and position.quantity == instrument.make_qty(qty):
                return position
        raise AssertionError(f"position of {qty} {instrument.id} did not open")

    def trigger(
        self,
        reason: ExitReason,
        *,
        qty: str | None = None,
        priority: ExitPriority | None = None,
        method_name: str = "m",
        instrument: Instrument = AAPL,
        position_id: str | None = None,
    ) -> ExitTriggered:
        position = self.portfolio.position(STRATEGY, instrument.id)
        assert position is not None or position_id is not None
        now = self.clock.timestamp_ns()
        event = ExitTriggered(
            id=self.ids.new_id(),
            correlation_id=self.ids.new_id(),
            ts_event=now,
            ts_init=now,
            strategy_id=STRATEGY,
            instrument_id=instrument.id,
            position_id=PositionId(position_id) if position_id else position.id,  # type: ignore[union-attr]
            method=method_name,
            reason=reason,
            priority=priority if priority is not None else EXIT_PRIORITY[reason],
            quantity=instrument.make_qty(qty) if qty else position.quantity,  # type: ignore[union-attr]
            detail="scenario",
        )
        self.bus.publish(event)
        return event

    # -- reading the record ----------------------------------------------------------------

    def of(self, cls: type[M]) -> list[M]:
        return [m for m in self.log if isinstance(m, cls)]

    def exit_submits(self) -> list[SubmitOrder]:
        return [c for c in self.of(SubmitOrder) if "exit" in c.order.tags]

    def steps(self) -> list[tuple[int, str, str | None, Decimal]]:
        """``(step, style, price, remaining)`` of every ExitEscalated."""
        return [
            (e.step, e.style, str(e.price) if e.price is not None else None, e.remaining.as_decimal())
            for e in self.of(ExitEscalated)
        ]

    def exit_filled(self) -> Decimal:
        exit_ids = {c.order.client_order_id for c in self.exit_submits()}
        return sum(
            (f.last_qty.as_decimal() for f in self.of(OrderFilled) if f.client_order_id in exit_ids),
            Decimal(0),
        )

    def position_qty(self, instrument: Instrument = AAPL) -> Decimal:
        position = self.portfolio.position(STRATEGY, instrument.id)
        return position.quantity.as_decimal() if position is not None else Decimal(0)


MakeRig = Callable[..., Rig]


@pytest.fixture
def make_rig() -> Iterator[MakeRig]:
    """Build rigs; at teardown no handler may have raised and no order event been refused."""
    made: list[Rig] = []

    def make(**kwargs: Any) -> Rig:
        rig = Rig(**kwargs)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        assert rig.of(HandlerFailed) == []
        assert rig.bus.handler_errors == 0
        assert rig.execution.event_errors == 0


# -- order style and price per priority -------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "side", "order_type", "price", "style"),
    [
        # bid 100.00, ask 100.03, mid 100.015, one tick 0.01; default offset 1 tick
        (ExitReason.STOP_LOSS, "BUY", OrderType.MARKET, None, "market"),
        (ExitReason.TRAILING_STOP, "BUY", OrderType.LIMIT, "99.99", "aggressive_limit"),
        (ExitReason.PROFIT_TARGET, "BUY", OrderType.LIMIT, "100.01", "fair_limit"),
        (ExitReason.EDGE_DECAY, "BUY", OrderType.LIMIT, "100.04", "conservative_limit"),
        (ExitReason.STOP_LOSS, "SELL", OrderType.MARKET, None, "market"),
        (ExitReason.TRAILING_STOP, "SELL", OrderType.LIMIT, "100.04", "aggressive_limit"),
        (ExitReason.PROFIT_TARGET, "SELL", OrderType.LIMIT, "100.02", "fair_limit"),
        (ExitReason.EDGE_DECAY, "SELL", OrderType.LIMIT, "99.99", "conservative_limit"),
    ],
)
def test_each_priority_places_its_default_style_at_its_price_reduce_only_and_opposite_the_position(
    make_rig: MakeRig,
    reason: ExitReason,
    side: str,
    order_type: OrderType,
    price: str | None,
    style: str,
) -> None:
    rig = make_rig(account_type=AccountType.MARGIN)
    position = rig.open(side)
    trigger = rig.trigger(reason)

    [submit] = rig.exit_submits()
    spec = submit.order
    assert spec.side is OrderSide(side).opposite
    assert spec.order_type is order_type
    assert spec.price == (Price.from_str(price) if price is not None else None)
    assert spec.quantity == position.quantity
    assert spec.reduce_only is True
    assert spec.strategy_id == STRATEGY
    assert spec.client_order_id == "O-S-1-2"  # the strategy's own factory: the entry was O-S-1-1
    assert (submit.correlation_id, submit.causation_id) == (trigger.correlation_id, trigger.id)
    [escalated] = rig.of(ExitEscalated)
    assert rig.steps() == [(1, style, price, Decimal(10))]
    assert escalated.client_order_id == spec.client_order_id
    assert (escalated.correlation_id, escalated.causation_id) == (trigger.correlation_id, trigger.id)
    assert escalated.position_id == position.id
    assert escalated.reason is reason
    [view] = rig.exits.active_exits()
    assert (view.position_id, view.reason, view.step, view.style) == (position.id, reason, 1, style)
    assert view.client_order_id == spec.client_order_id
    assert view.side is spec.side


def test_critical_market_exit_fills_on_the_next_quote_and_completes(make_rig: MakeRig) -> None:
    rig = make_rig()
    position = rig.open()
    trigger = rig.trigger(ExitReason.STOP_LOSS)
    rig.quote("99.50", "99.52")

    [done] = rig.of(ExitCompleted)
    assert (done.position_id, done.reason, done.steps) == (position.id, ExitReason.STOP_LOSS, 1)
    assert done.correlation_id == trigger.correlation_id
    [fill] = [f for f in rig.of(OrderFilled) if f.client_order_id == "O-S-1-2"]
    assert done.causation_id == fill.id
    assert fill.last_px == Price.from_str("99.50")
    assert rig.portfolio.position(STRATEGY, AAPL.id) is None
    assert (rig.exits.completed, rig.exits.failed) == (1, 0)
    assert rig.exits.active_exits() == []
    assert rig.clock.timer_names == []


@pytest.mark.parametrize(
    ("reason", "price"),
    [
        # no quote ever: the last trade (100.00) stands for bid and ask
        (ExitReason.TRAILING_STOP, "99.99"),
        (ExitReason.PROFIT_TARGET, "100.00"),
        (ExitReason.EDGE_DECAY, "100.01"),
    ],
)
def test_without_a_quote_limit_exits_are_priced_from_the_last_trade(
    make_rig: MakeRig, reason: ExitReason, price: str
) -> None:
    rig = make_rig()
    rig.open(trades_only=True)
    assert rig.prices.bid_raw(AAPL.id) is None
    rig.trigger(reason)
    [submit] = rig.exit_submits()
    assert submit.order.price == Price.from_str(price)


@pytest.mark.parametrize(
    ("side", "bid", "ask", "reason", "settings", "price"),
    [
        # aggressive sell at 0.02 - 3 ticks would be -0.01: clamped to the floor 0.01
        (
            "BUY",
            "0.02",
            "0.04",
            ExitReason.TRAILING_STOP,
            {"high": run("aggressive_limit", offset_ticks=3)},
            "0.01",
        ),
        # conservative sell at 0.98 + 3 ticks would be 1.01: clamped to the ceiling 0.99
        (
            "BUY",
            "0.96",
            "0.98",
            ExitReason.EDGE_DECAY,
            {"low": run("conservative_limit", offset_ticks=3)},
            "0.99",
        ),
        # a short covered aggressively: 0.98 + 3 ticks, clamped to 0.99
        (
            "SELL",
            "0.96",
            "0.98",
            ExitReason.TRAILING_STOP,
            {"high": run("aggressive_limit", offset_ticks=3)},
            "0.99",
        ),
    ],
)
def test_event_contract_exit_prices_are_clamped_to_the_contract_band(
    make_rig: MakeRig,
    side: str,
    bid: str,
    ask: str,
    reason: ExitReason,
    settings: dict[str, PriorityExecution],
    price: str,
) -> None:
    rig = make_rig(methods=method(**settings), account_type=AccountType.MARGIN, faults=NEVER_FILL)
    rig.open(side, bid=bid, ask=ask, instrument=RAIN)
    rig.trigger(reason, instrument=RAIN)
    [submit] = rig.exit_submits()
    assert submit.order.price == Price.from_str(price)
    assert rig.of(OrderCanceled) == []  # the venue accepted the clamped price
    assert rig.venue.order_report(submit.order.client_order_id) is not None


def test_a_walk_stopped_by_the_price_floor_goes_to_market_at_the_first_timeout(make_rig: MakeRig) -> None:
    rig = make_rig(
        methods=method(high=run("aggressive_limit", offset_ticks=3, max_walks=2)), faults=NEVER_FILL
    )
    rig.open(bid="0.02", ask="0.04", instrument=RAIN)
    rig.trigger(ExitReason.TRAILING_STOP, instrument=RAIN)
    rig.wait(10)
    rig.quote("0.02", "0.04", instrument=RAIN)
    assert rig.steps() == [(1, "aggressive_limit", "0.01", 10), (2, "market", None, 10)]
    assert rig.of(ModifyOrder) == []
    assert rig.exits.completed == 1


# -- escalation ------------------------------------------------------------------------------


def test_walk_then_market_on_a_venue_that_never_fills_limits(make_rig: MakeRig) -> None:
    rig = make_rig(faults=NEVER_FILL)  # HIGH default: aggressive, 10 s, 2 walks of 1 tick
    rig.open()
    trigger = rig.trigger(ExitReason.TRAILING_STOP)
    for _ in range(3):
        rig.quote("100.00", "100.03", dt_ms=5000)  # touched, never filled
        rig.wait(5)
    assert rig.exits.completed == 0
    rig.quote("100.00", "100.03")

    assert rig.steps() == [
        (1, "aggressive_limit", "99.99", 10),
        (2, "walk", "99.98", 10),
        (3, "walk", "99.97", 10),
        (4, "market", None, 10),
    ]
    escalations = rig.of(ExitEscalated)
    assert [e.ts_event - trigger.ts_event for e in escalations] == [0, 10 * SEC, 20 * SEC, 30 * SEC]
    limit_id = escalations[0].client_order_id
    assert {e.client_order_id for e in escalations[:3]} == {limit_id}  # walks modify the one order
    modifies = rig.of(ModifyOrder)
    assert [str(m.price) for m in modifies] == ["99.98", "99.97"]
    assert [m.causation_id for m in modifies] == [escalations[0].id, escalations[1].id]
    assert {m.correlation_id for m in modifies} == {trigger.correlation_id}
    assert rig.execution.order(limit_id).status is OrderStatus.CANCELED  # type: ignore[union-attr]
    [done] = rig.of(ExitCompleted)
    assert done.steps == 4
    assert rig.portfolio.position(STRATEGY, AAPL.id) is None
    assert rig.exit_filled() == 10


def test_immediate_market_waits_for_the_cancel_before_sending_the_market_order(make_rig: MakeRig) -> None:
    rig = make_rig(
        methods=method(high=run("aggressive_limit", escalation="immediate_market")),
        faults=NEVER_FILL,
        latency_ns=200 * NANOS_PER_MILLI,
    )
    rig.open()
    rig.trigger(ExitReason.TRAILING_STOP)
    rig.quote("100.00", "100.03")
    rig.wait(9)  # the timeout fires; the cancel is on the wire for 200 ms

    [limit] = rig.exit_submits()
    [cancel] = rig.of(CancelOrder)
    assert cancel.client_order_id == limit.order.client_order_id
    assert rig.of(OrderCanceled) == []
    assert len(rig.exit_submits()) == 1  # no market order while the limit may still fill

    rig.wait("0.2")  # the cancel arrives: canceled, and only now the market order
    [canceled] = rig.of(OrderCanceled)
    market = rig.exit_submits()[1]
    assert market.order.order_type is OrderType.MARKET
    assert market.causation_id == canceled.id
    rig.quote("100.00", "100.03")
    assert rig.steps() == [(1, "aggressive_limit", "99.99", 10), (2, "market", None, 10)]
    assert rig.exits.completed == 1
    assert rig.venue.position_raw(AAPL.id) == 0


def test_walk_price_gives_up_with_exit_failed_and_a_critical_alert_leaving_the_position_open(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(
        methods=method(medium=run("fair_limit", timeout=30, escalation="walk_price", max_walks=2)),
        faults=NEVER_FILL,
    )
    position = rig.open()
    trigger = rig.trigger(ExitReason.PROFIT_TARGET)
    for _ in range(3):
        rig.quote("100.00", "100.03", dt_ms=10_000)
        rig.wait(20)

    assert rig.steps() == [
        (1, "fair_limit", "100.01", 10),
        (2, "walk", "100.00", 10),
        (3, "walk", "99.99", 10),
    ]
    assert [s.order.order_type for s in rig.exit_submits()] == [OrderType.LIMIT]  # never a market order
    [failed] = rig.of(ExitFailed)
    assert (failed.position_id, failed.reason, failed.remaining) == (
        position.id,
        ExitReason.PROFIT_TARGET,
        position.quantity,
    )
    assert "walk_price gave up after 2 walk(s) at 99.99" in failed.detail
    assert "not filled within 30 s" in failed.detail
    assert failed.correlation_id == trigger.correlation_id
    assert failed.causation_id == rig.of(OrderCanceled)[-1].id  # failed once the limit was canceled
    [alert] = rig.of(Alert)
    assert (alert.severity, alert.source, alert.kind) == (
        AlertSeverity.CRITICAL,
        "exit_executor",
        "exit_failed",
    )
    assert alert.instrument_id == AAPL.id
    assert str(position.id) in alert.message
    assert "10 of AAPL.SIM left open" in alert.message
    assert alert.causation_id == failed.id
    assert rig.position_qty() == 10
    assert rig.execution.open_orders() == []
    assert (rig.exits.failed, rig.exits.completed) == (1, 0)
    assert rig.exits.active_exits() == []
    assert rig.clock.timer_names == []


def test_walk_slowly_walks_one_tick_at_a_time_doubling_the_wait_then_goes_to_market(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(
        methods=method(
            low=run("conservative_limit", timeout=10, escalation="walk_slowly", max_walks=2, walk_ticks=3)
        ),
        faults=NEVER_FILL,
    )
    rig.open()
    trigger = rig.trigger(ExitReason.EDGE_DECAY)
    rig.wait(29)
    assert len(rig.of(ExitEscalated)) == 2  # walked at 10 s; the next wait is 20 s
    rig.wait(41)
    rig.quote("100.00", "100.03")

    assert rig.steps() == [
        (1, "conservative_limit", "100.04", 10),
        (2, "walk", "100.03", 10),  # one tick, although walk_ticks is 3
        (3, "walk", "100.02", 10),
        (4, "market", None, 10),
    ]
    offsets = [e.ts_event - trigger.ts_event for e in rig.of(ExitEscalated)]
    assert offsets == [0, 10 * SEC, 30 * SEC, 70 * SEC]
    assert rig.exits.completed == 1
    assert rig.position_qty() == 0


def test_partial_fills_keep_escalating_the_remainder_until_the_exit_is_filled(make_rig: MakeRig) -> None:
    # The venue fills at most 30 % of an order per data point: 3 of 10, then 1 of a market 4.
    rig = make_rig(
        methods=method(high=run("aggressive_limit", max_walks=1)),
        faults=FaultConfig(max_fill_fraction=Decimal("0.3")),
    )
    rig.open()
    rig.trigger(ExitReason.TRAILING_STOP)
    rig.quote("100.00", "100.03")  # marketable limit: 3 at 100.00
    assert rig.exit_filled() == 3
    rig.wait(9)  # timeout: walk the 7 left
    rig.quote("99.98", "100.01")  # the bid reaches the walked limit at 99.98: 3 more
    assert rig.exit_filled() == 6
    rig.wait(9)  # timeout, no walk left: cancel, then market for 4
    for _ in range(4):
        rig.quote("99.97", "100.00")

    assert rig.steps() == [
        (1, "aggressive_limit", "99.99", 10),
        (2, "walk", "99.98", 7),
        (3, "market", None, 4),
    ]
    assert rig.exit_filled() == 10
    assert rig.exits.completed == 1
    assert rig.portfolio.position(STRATEGY, AAPL.id) is None
    assert rig.venue.position_raw(AAPL.id) == 0  # never over-closed


def test_scale_out_closes_only_its_share_of_the_position(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.open()
    rig.trigger(ExitReason.SCALE_OUT, qty="3")
    rig.quote("100.00", "100.03")  # fair sell at 100.01 does not touch
    rig.quote("100.01", "100.04")

    assert rig.steps() == [(1, "fair_limit", "100.01", 3)]
    assert rig.exits.completed == 1
    assert rig.position_qty() == 7


@pytest.mark.parametrize("liquidity_returns", [False, True])
def test_an_unfilled_market_order_is_canceled_and_retried_once_then_the_exit_fails(
    make_rig: MakeRig, liquidity_returns: bool
) -> None:
    # Each order may take half the top-of-book size; one-lot quotes leave nothing to take.
    rig = make_rig(fill_model=FillModel(max_volume_participation=Decimal("0.5")))
    position = rig.open()
    rig.trigger(ExitReason.KILL_SWITCH)  # CRITICAL default: market, 5 s, retried once
    for _ in range(5):
        rig.quote("100.00", "100.03", size="1")
    rig.wait(1)  # 5 s: canceled, a second market order placed
    assert rig.steps() == [(1, "market", None, 10), (2, "market", None, 10)]
    if liquidity_returns:
        rig.quote("100.00", "100.03")
        assert rig.exits.completed == 1
        assert rig.position_qty() == 0
        return
    for _ in range(5):
        rig.quote("100.00", "100.03", size="1")

    [failed] = rig.of(ExitFailed)
    assert failed.remaining == position.quantity
    assert "market order" in failed.detail
    assert "not filled within 5 s" in failed.detail
    assert "no step left after 2 market order(s)" in failed.detail
    assert len(rig.of(OrderCanceled)) == 2
    assert [a.kind for a in rig.of(Alert)] == ["exit_failed"]
    assert rig.position_qty() == 10
    assert rig.execution.open_orders() == []


def test_market_retries_zero_fails_after_the_first_unfilled_market_order(make_rig: MakeRig) -> None:
    rig = make_rig(market_retries=0)
    rig.open()
    rig.trigger(ExitReason.STOP_LOSS)
    rig.wait(5)  # no data at all: nothing can fill
    assert rig.steps() == [(1, "market", None, 10)]
    assert rig.exits.failed == 1


def test_denied_exit_orders_try_every_next_step_then_fail(make_rig: MakeRig) -> None:
    rig = make_rig()  # HIGH default: aggressive limit, two walks, then market (retried once)
    rig.open()
    rig.risk.set_trading_state(TradingState.HALTED, "operator halt")
    rig.trigger(ExitReason.LIQUIDITY)

    # Every step is denied at once, so the exit runs through them without waiting.
    assert rig.steps() == [
        (1, "aggressive_limit", "99.99", 10),
        (2, "walk", "99.98", 10),
        (3, "walk", "99.97", 10),
        (4, "market", None, 10),
        (5, "market", None, 10),
    ]
    assert len({s.order.client_order_id for s in rig.exit_submits()}) == 5  # a new order per step
    [failed] = rig.of(ExitFailed)
    assert "denied: trading_state: HALTED" in failed.detail
    assert rig.of(Alert)[0].severity is AlertSeverity.CRITICAL
    assert rig.position_qty() == 10
    assert rig.clock.timer_names == []


def test_venue_rejections_of_a_reduce_only_exit_fail_it_with_the_venue_reason(make_rig: MakeRig) -> None:
    # Another strategy's short nets the venue-side position to zero: the venue sees nothing
    # for S-1's reduce-only sell to reduce, and rejects it.
    rig = make_rig(account_type=AccountType.MARGIN)
    rig.open()
    rig.open("SELL", strategy=OTHER)
    assert rig.venue.position_raw(AAPL.id) == 0
    rig.trigger(ExitReason.STOP_LOSS)

    assert rig.steps() == [(1, "market", None, 10), (2, "market", None, 10)]
    [failed] = rig.of(ExitFailed)
    assert "rejected: reduce-only SELL 10 would increase the position" in failed.detail
    assert rig.position_qty() == 10


def test_a_rejected_cancel_fails_the_exit_and_says_the_order_is_still_working(make_rig: MakeRig) -> None:
    rig = make_rig(
        methods=method(high=run("aggressive_limit", escalation="immediate_market")),
        faults=FaultConfig(never_fill_limit_orders=True, cancel_rejects=True),
    )
    rig.open()
    rig.trigger(ExitReason.EXPIRY)
    rig.wait(10)

    [failed] = rig.of(ExitFailed)
    assert "cancel of O-S-1-2 was rejected (fault injection: cancel rejected)" in failed.detail
    assert "still working at 99.99" in failed.detail
    assert len(rig.exit_submits()) == 1  # never a market order on top of a working limit
    assert rig.of(Alert)[0].kind == "exit_failed"


# -- one exit per position ---------------------------------------------------------------


def test_a_more_urgent_exit_supersedes_the_running_one_with_its_own_style(make_rig: MakeRig) -> None:
    rig = make_rig()
    position = rig.open()
    decay = rig.trigger(ExitReason.EDGE_DECAY)  # LOW: conservative limit at 100.04
    rig.quote("100.00", "100.03")
    stop = rig.trigger(ExitReason.STOP_LOSS)  # CRITICAL: cancels it and goes to market

    [cancel] = rig.of(CancelOrder)
    assert cancel.client_order_id == "O-S-1-2"
    assert (cancel.correlation_id, cancel.causation_id) == (stop.correlation_id, stop.id)
    [view] = rig.exits.active_exits()
    assert (view.reason, view.priority, view.style) == (ExitReason.STOP_LOSS, ExitPriority.CRITICAL, "market")
    rig.quote("99.90", "99.93")

    escalations = rig.of(ExitEscalated)
    assert [(e.reason, e.step, e.style, e.correlation_id) for e in escalations] == [
        (ExitReason.EDGE_DECAY, 1, "conservative_limit", decay.correlation_id),
        (ExitReason.STOP_LOSS, 1, "market", stop.correlation_id),
    ]
    [done] = rig.of(ExitCompleted)
    assert (done.reason, done.steps, done.position_id) == (ExitReason.STOP_LOSS, 1, position.id)
    assert rig.of(ExitFailed) == []
    assert (rig.exits.superseded, rig.exits.completed, rig.exits.ignored) == (1, 1, 0)
    assert rig.position_qty() == 0


def test_a_less_or_equally_urgent_exit_is_ignored_while_one_runs(make_rig: MakeRig) -> None:
    rig = make_rig(faults=NEVER_FILL)
    rig.open()
    rig.trigger(ExitReason.TRAILING_STOP)  # HIGH
    rig.trigger(ExitReason.MAX_HOLDING)  # LOW
    rig.trigger(ExitReason.EXPIRY)  # HIGH too
    assert rig.exits.ignored == 2
    assert rig.exits.superseded == 0
    assert len(rig.exit_submits()) == 1
    assert rig.of(CancelOrder) == []
    [view] = rig.exits.active_exits()
    assert view.reason is ExitReason.TRAILING_STOP


def test_a_scale_out_while_a_full_exit_runs_is_ignored_although_more_urgent(make_rig: MakeRig) -> None:
    rig = make_rig(faults=NEVER_FILL)
    rig.open()
    rig.trigger(ExitReason.EDGE_DECAY)  # LOW, all 10
    rig.trigger(ExitReason.SCALE_OUT, qty="3")  # MEDIUM, but would leave 7 unclosed
    assert rig.exits.ignored == 1
    assert rig.of(CancelOrder) == []
    [view] = rig.exits.active_exits()
    assert (view.reason, view.quantity) == (ExitReason.EDGE_DECAY, AAPL.make_qty("10"))


def test_a_position_closed_by_someone_else_cancels_the_exit_order_and_completes(make_rig: MakeRig) -> None:
    rig = make_rig()
    position = rig.open()
    rig.trigger(ExitReason.EDGE_DECAY)  # resting at 100.04, above the bid
    rig.submit_market("SELL", "10")  # the strategy closes the position itself
    rig.quote("100.00", "100.03")

    [done] = rig.of(ExitCompleted)
    assert (done.position_id, done.steps) == (position.id, 1)
    [cancel] = rig.of(CancelOrder)
    assert cancel.client_order_id == "O-S-1-2"
    assert rig.execution.order(cancel.client_order_id).status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert rig.venue.position_raw(AAPL.id) == 0
    assert rig.exits.active_exits() == []
    assert rig.clock.timer_names == []


def test_a_trigger_for_a_position_no_longer_open_completes_with_zero_steps(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.open()
    trigger = rig.trigger(ExitReason.MAX_HOLDING, position_id="P-AAPL.SIM-S-1-99")
    [done] = rig.of(ExitCompleted)
    assert (done.steps, done.causation_id, done.position_id) == (0, trigger.id, "P-AAPL.SIM-S-1-99")
    assert rig.exit_submits() == []


def test_an_unknown_method_still_exits_with_the_default_settings_and_warns(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.open()
    rig.trigger(ExitReason.STOP_LOSS, method_name="nope")
    [warning] = rig.of(Alert)
    assert (warning.severity, warning.kind) == (AlertSeverity.WARNING, "exit_method_unknown")
    assert "unknown method 'nope' (known: m)" in warning.message
    rig.quote("100.00", "100.03")
    assert rig.exits.completed == 1


def test_a_negative_market_retry_count_is_refused(make_rig: MakeRig) -> None:
    with pytest.raises(TradeloopError, match="market_retries must be a non-negative integer"):
        make_rig(market_retries=-1)
