"""The simulated venue's front: the ``ExecutionClient`` port, latency, expiry and order events.

:class:`SimulatedExchange` receives commands (through a seeded latency model), validates them
with :class:`~tradeloop.venues.simulated.checks.OrderChecks`, hands data points to the
:class:`~tradeloop.venues.simulated.matching.OrderMatcher`, books fills in its
:class:`~tradeloop.venues.simulated.ledger.VenueLedger` and publishes every order event. The
behaviour is documented in :mod:`tradeloop.venues.simulated`.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Final, TypeVar

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, Clock
from tradeloop.core.errors import ConfigError, VenueError
from tradeloop.core.ids import (
    AccountId,
    ClientOrderId,
    IdFactory,
    InstrumentId,
    StrategyId,
    TradeId,
    Venue,
    VenueOrderId,
)
from tradeloop.core.message import Data, Event
from tradeloop.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder, TradingCommand
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.enums import LiquiditySide, OrderSide, OrderStatus, TimeInForce
from tradeloop.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderTriggered,
    OrderUpdated,
)
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_PRECISION, FIXED_SCALAR, Money, fee_raw
from tradeloop.venues.simulated.checks import OrderChecks, exposure_px
from tradeloop.venues.simulated.config import SimulatedVenueConfig
from tradeloop.venues.simulated.faults import ApiErrorFault
from tradeloop.venues.simulated.ledger import VenueLedger
from tradeloop.venues.simulated.matching import OrderMatcher
from tradeloop.venues.simulated.working_order import (
    MODE_LIMIT,
    MODE_MARKET,
    MODE_TRAILING,
    OrderReport,
    WorkingOrder,
)

__all__ = ["SimulatedExchange"]

_DAY_NS: Final = 86_400 * NANOS_PER_SECOND
_NEVER: Final = 2**63 - 1
_IMMEDIATE: Final = (TimeInForce.IOC, TimeInForce.FOK)
_E = TypeVar("_E", bound=OrderEvent)


def _rate_raw(rate: Decimal) -> int:
    return int(rate.scaleb(FIXED_PRECISION))


class SimulatedExchange:
    """A simulated venue with its own matching engine and ledger.

    Parameters
    ----------
    venue:
        The venue name (the ``VENUE`` part of its instruments' ids).
    bus:
        Where order events are published.
    clock:
        The venue's time source.
    ids:
        Mints event ids.
    instruments:
        What the venue lists; each must be on ``venue`` and quoted in the account currency.
    config:
        Account, fill, fee and latency models, and faults.

    Raises
    ------
    ConfigError
        If an instrument is listed twice, belongs to another venue or is quoted in a currency
        other than the account's.
    """

    __slots__ = (
        "_account_id",
        "_api_errors",
        "_bar_execution",
        "_base_ns",
        "_books",
        "_bus",
        "_checks",
        "_clock",
        "_config",
        "_expiries",
        "_flushing",
        "_frac_raw",
        "_handlers",
        "_ids",
        "_inflight",
        "_instruments",
        "_jitter_ns",
        "_last",
        "_latency_rng",
        "_ledger",
        "_matcher",
        "_order_seq",
        "_orders",
        "_outbox",
        "_rates",
        "_trade_seq",
        "_venue",
        "_zero_latency",
        "next_due_ns",
    )

    def __init__(
        self,
        venue: Venue,
        *,
        bus: MessageBus,
        clock: Clock,
        ids: IdFactory,
        instruments: Sequence[Instrument],
        config: SimulatedVenueConfig,
    ) -> None:
        self._venue = venue
        self._account_id = AccountId(config.account_id or f"{venue}-001")
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._config = config
        currency = config.starting_balances.currency
        fees = config.fee_model
        self._instruments: dict[InstrumentId, Instrument] = {}
        self._rates: dict[InstrumentId, tuple[int, int]] = {}
        for inst in instruments:
            if inst.venue != venue:
                raise ConfigError(f"instrument {inst.id} is not on venue {venue}")
            if inst.id in self._instruments:
                raise ConfigError(f"instrument {inst.id} is listed twice on venue {venue}")
            if inst.quote_currency != currency:
                raise ConfigError(
                    f"instrument {inst.id} is quoted in {inst.quote_currency}, but the account of "
                    f"venue {venue} is in {currency}"
                )
            self._instruments[inst.id] = inst
            maker = inst.maker_fee_raw if fees.maker_fee is None else _rate_raw(fees.maker_fee)
            taker = inst.taker_fee_raw if fees.taker_fee is None else _rate_raw(fees.taker_fee)
            self._rates[inst.id] = (maker, taker)
        self._ledger = VenueLedger(config.starting_balances)
        participation = config.fill_model.max_volume_participation
        self._matcher = OrderMatcher(
            self,
            participation_raw=0 if participation is None else _rate_raw(participation),
            slippage_ticks=config.fill_model.slippage_ticks,
            never_fill_limits=config.faults.never_fill_limit_orders,
        )
        self._books = self._matcher.books
        self._last: dict[InstrumentId, Data] = {}
        self._checks = OrderChecks(
            venue,
            config,
            instruments=self._instruments,
            taker_rates={iid: rates[1] for iid, rates in self._rates.items()},
            ledger=self._ledger,
            books=self._books,
            last=self._last,
        )
        self._api_errors = ApiErrorFault(venue, config.faults, ids=ids, clock=clock)
        self._orders: dict[ClientOrderId, WorkingOrder] = {}
        self._inflight: deque[tuple[int, TradingCommand]] = deque()
        self._expiries: list[tuple[int, int, WorkingOrder]] = []
        self.next_due_ns: int = _NEVER
        """When :meth:`advance_time` next has work (a command arriving or an order expiring).

        ``2**63 - 1`` when nothing is pending. It may be early (the order it was set for has
        since closed), never late, so an engine may call ``advance_time`` at this time. A plain
        attribute, like the clock's: the engine's loop compares against it for every message.
        """
        self._outbox: deque[Event] = deque()  # order events, and VenueErrorOccurred
        self._flushing = False
        latency = config.latency_model
        self._latency_rng = random.Random(latency.seed)
        self._zero_latency = latency.is_zero
        self._base_ns = latency.base_ns
        self._jitter_ns = latency.jitter_ns
        self._bar_execution = config.bar_execution
        frac = config.faults.max_fill_fraction
        self._frac_raw = 0 if frac is None else _rate_raw(frac)
        self._order_seq = 0
        self._trade_seq = 0
        self._handlers: dict[type, Callable[[Any, int], None]] = {
            SubmitOrder: self._handle_submit,
            CancelOrder: self._handle_cancel,
            ModifyOrder: self._handle_modify,
            CancelAllOrders: self._handle_cancel_all,
        }

    # -- identity --------------------------------------------------------------------------

    @property
    def venue(self) -> Venue:
        return self._venue

    @property
    def account_id(self) -> AccountId:
        return self._account_id

    @property
    def config(self) -> SimulatedVenueConfig:
        return self._config

    # -- the ExecutionClient port ----------------------------------------------------------

    def submit_order(self, command: SubmitOrder) -> None:
        """Send a new order; answered by ``OrderAccepted`` or ``OrderRejected`` (and fills)."""
        self._receive(command)

    def cancel_order(self, command: CancelOrder) -> None:
        """Cancel an order; answered by ``OrderCanceled`` or ``OrderCancelRejected``."""
        self._receive(command)

    def modify_order(self, command: ModifyOrder) -> None:
        """Change quantity or prices; answered by ``OrderUpdated`` or ``OrderModifyRejected``."""
        self._receive(command)

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        """Cancel every open order of the command's strategy on its instrument."""
        self._receive(command)

    # -- driven by the engine --------------------------------------------------------------

    def advance_time(self, ts_ns: int) -> None:
        """Deliver the commands that reached the venue and expire orders, up to ``ts_ns``."""
        if ts_ns < self.next_due_ns:
            return
        self._run_due(ts_ns)
        self._flush()

    def process_bar(self, bar: Bar) -> None:
        """Match the instrument's working orders against ``bar``, then remember it."""
        iid = bar.instrument_id
        book = self._books.get(iid)
        if book is None or not self._bar_execution:
            self._last[iid] = bar
            return
        self._matcher.match_bar(book, bar)
        self._last[iid] = bar
        if self._outbox:
            self._flush()

    def process_quote_tick(self, tick: QuoteTick) -> None:
        """Match the instrument's working orders against ``tick``, then remember it."""
        iid = tick.instrument_id
        book = self._books.get(iid)
        if book is None:
            self._last[iid] = tick
            return
        self._matcher.match_quote(book, tick)
        self._last[iid] = tick
        if self._outbox:
            self._flush()

    def process_trade_tick(self, tick: TradeTick) -> None:
        """Match the instrument's working orders against ``tick``, then remember it."""
        iid = tick.instrument_id
        book = self._books.get(iid)
        if book is None:
            self._last[iid] = tick
            return
        self._matcher.match_trade(book, tick)
        self._last[iid] = tick
        if self._outbox:
            self._flush()

    # -- reports ---------------------------------------------------------------------------

    def balance(self) -> Money:
        """The account's cash (see :meth:`VenueLedger.balance`)."""
        return self._ledger.balance()

    @property
    def cash_raw(self) -> int:
        """The account's exact cash at the fixed-point scale."""
        return self._ledger.cash_raw

    def commissions(self) -> Money:
        """Total commissions charged."""
        return self._ledger.commissions()

    def position_raw(self, instrument_id: InstrumentId) -> int:
        """The venue-side signed net position of an instrument (raw quantity; long > 0)."""
        return self._ledger.position_raw(instrument_id)

    def open_orders(self) -> list[OrderReport]:
        """Every open order, oldest first."""
        return [o.report() for o in self._orders.values() if o.is_open]

    def order_report(self, client_order_id: ClientOrderId) -> OrderReport | None:
        """The venue's view of an accepted order, open or closed; ``None`` if it never was."""
        o = self._orders.get(client_order_id)
        return None if o is None else o.report()

    def purge_closed(self, keep: int) -> int:
        """Forget all but the ``keep`` newest closed orders (a long-running paper venue)."""
        closed = [cid for cid, o in self._orders.items() if not o.is_open]
        drop = closed[: max(0, len(closed) - keep)]
        for cid in drop:
            del self._orders[cid]
        return len(drop)

    def last_data(self, instrument_id: InstrumentId) -> Data | None:
        """The latest market data the venue saw for an instrument (a quote, trade or bar)."""
        return self._last.get(instrument_id)

    def instrument(self, instrument_id: InstrumentId) -> Instrument | None:
        """A listed instrument, or ``None``."""
        return self._instruments.get(instrument_id)

    # -- commands in flight ----------------------------------------------------------------

    def _receive(self, command: TradingCommand) -> None:
        now = self._clock.timestamp_ns()
        if self._zero_latency:
            self._handle(command, now)
            self._flush()
            return
        arrival = now + self._base_ns
        if self._jitter_ns:
            arrival += self._latency_rng.randint(0, self._jitter_ns)
        inflight = self._inflight
        if inflight:
            arrival = max(arrival, inflight[-1][0])  # one ordered connection: no overtaking
        elif arrival <= now:
            self._handle(command, now)
            self._flush()
            return
        inflight.append((arrival, command))
        if arrival < self.next_due_ns:
            self.next_due_ns = arrival

    def _handle(self, command: TradingCommand, ts: int) -> None:
        handler = self._handlers.get(type(command))
        if handler is None:
            raise VenueError(f"venue {self._venue} cannot handle {type(command).__name__}")
        handler(command, ts)

    def _run_due(self, ts_ns: int) -> None:
        inflight = self._inflight
        while True:
            t_cmd = inflight[0][0] if inflight else _NEVER
            t_exp = self._next_expiry()
            if t_exp <= t_cmd:
                if t_exp > ts_ns:
                    break
                self._expire(heapq.heappop(self._expiries)[2], t_exp)
            else:
                if t_cmd > ts_ns:
                    break
                self._handle(inflight.popleft()[1], t_cmd)
        self.next_due_ns = min(inflight[0][0] if inflight else _NEVER, self._next_expiry())

    def _next_expiry(self) -> int:
        heap = self._expiries
        while heap:
            at, _, order = heap[0]
            if order.is_open and order.expire_ns == at:
                return at
            heapq.heappop(heap)  # closed since it was scheduled
        return _NEVER

    # -- events ----------------------------------------------------------------------------

    def _emit(
        self,
        cls: type[_E],
        ids: tuple[StrategyId, InstrumentId, ClientOrderId],
        correlation_id: str,
        causation_id: str,
        ts: int,
        **fields: Any,
    ) -> _E:
        event = cls(
            id=self._ids.new_id(),
            correlation_id=correlation_id,
            causation_id=causation_id,
            ts_event=ts,
            ts_init=self._clock.timestamp_ns(),
            strategy_id=ids[0],
            instrument_id=ids[1],
            client_order_id=ids[2],
            **fields,
        )
        self._outbox.append(event)
        return event

    def _emit_for(
        self,
        cls: type[OrderEvent],
        o: WorkingOrder,
        correlation_id: str,
        causation_id: str,
        ts: int,
        **fields: Any,
    ) -> None:
        ids = (o.strategy_id, o.instrument_id, o.client_order_id)
        o.last_event_id = self._emit(cls, ids, correlation_id, causation_id, ts, **fields).id

    def _flush(self) -> None:
        # A handler may answer an event with a command that is handled at once; its events
        # join the queue and this (outer) loop publishes them in order.
        if self._flushing:
            return
        self._flushing = True
        out = self._outbox
        publish = self._bus.publish
        try:
            while out:
                publish(out.popleft())
        finally:
            self._flushing = False

    # -- submit ----------------------------------------------------------------------------

    def _handle_submit(self, command: SubmitOrder, ts: int) -> None:
        spec = command.order
        api_error = self._api_errors.on_submit(command, ts)
        if api_error is not None:
            self._outbox.append(api_error)
        # The price the order meets now: read once for the checks and the working order.
        ref = self._checks.market_px(spec.instrument_id, spec.side is OrderSide.BUY)
        reason = (
            self._checks.submit_problem(command, ts, self._orders, ref)
            if api_error is None
            else f"venue error: {api_error.error}"
        )
        if reason is not None:
            ids = (spec.strategy_id, spec.instrument_id, spec.client_order_id)
            self._emit(OrderRejected, ids, command.correlation_id, command.id, ts, reason=reason)
            return
        inst = self._instruments[spec.instrument_id]
        self._order_seq += 1
        maker, taker = self._rates[inst.id]
        o = WorkingOrder(
            spec,
            inst,
            VenueOrderId(f"{self._venue}-{self._order_seq}"),
            correlation_id=command.correlation_id,
            ts_accepted=ts,
            maker_rate_raw=maker,
            taker_rate_raw=taker,
        )
        o.reserve_px_raw = exposure_px(o.mode, o.price_raw, o.trigger_raw, ref) or 0
        if o.time_in_force in _IMMEDIATE and o.mode in (MODE_LIMIT, MODE_MARKET):
            o.immediate_pending = True
        elif o.mode == MODE_LIMIT:
            # With no price seen yet, the first data point decides: through the limit it takes
            # liquidity at the better price (TAKER), otherwise the order rests as a maker.
            o.taker_pending = ref is None or (ref <= o.price_raw if o.is_buy else ref >= o.price_raw)
        if self._frac_raw:
            o.frac_cap_raw = self._frac_cap(inst, o.quantity_raw)
        trail_set = False
        if o.mode == MODE_TRAILING:
            given = spec.trigger_price
            if ref is not None:
                o.best_raw = ref
                o.has_best = True
                start = self._matcher.trail_trigger(o, ref)
                if given is not None and ((given.raw <= start) if o.is_buy else (given.raw >= start)):
                    start = given.raw  # the given trigger is nearer the market: keep it
                o.trigger_raw = start
                o.reserve_px_raw = start
            trail_set = given is None or o.trigger_raw != given.raw
        self._orders[o.client_order_id] = o
        self._matcher.add(o)
        # Built here rather than through _emit_for: every accepted order passes this line.
        accepted = OrderAccepted(
            id=self._ids.new_id(),
            correlation_id=command.correlation_id,
            causation_id=command.id,
            ts_event=ts,
            ts_init=self._clock.timestamp_ns(),
            strategy_id=o.strategy_id,
            instrument_id=o.instrument_id,
            client_order_id=o.client_order_id,
            venue_order_id=o.venue_order_id,
        )
        self._outbox.append(accepted)
        o.last_event_id = accepted.id
        if trail_set:
            self._trigger_updated(o, ts)
        expire = spec.expire_time_ns or 0
        if o.time_in_force is TimeInForce.DAY:
            midnight = (ts // _DAY_NS + 1) * _DAY_NS
            expire = min(expire, midnight) if expire else midnight
        if expire:
            o.expire_ns = expire
            heapq.heappush(self._expiries, (expire, self._order_seq, o))
            if expire < self.next_due_ns:
                self.next_due_ns = expire

    def _frac_cap(self, inst: Instrument, qty_raw: int) -> int:
        return max(inst.size_increment.raw, inst.round_qty_raw_down(qty_raw * self._frac_raw // FIXED_SCALAR))

    # -- cancel and modify -----------------------------------------------------------------

    def _order_problem(self, o: WorkingOrder | None, command: CancelOrder | ModifyOrder) -> str | None:
        if o is None:
            return f"unknown order {command.client_order_id} on venue {self._venue}"
        if o.strategy_id != command.strategy_id:
            return f"order {o.client_order_id} belongs to strategy {o.strategy_id}"
        if not o.is_open:
            return f"order {o.client_order_id} is already closed ({o.status.value})"
        return None

    def _handle_cancel(self, command: CancelOrder, ts: int) -> None:
        o = self._orders.get(command.client_order_id)
        reason = self._order_problem(o, command)
        if reason is None and self._config.faults.cancel_rejects:
            reason = "fault injection: cancel rejected"
        if reason is not None or o is None:
            ids = (command.strategy_id, command.instrument_id, command.client_order_id)
            self._emit(
                OrderCancelRejected, ids, command.correlation_id, command.id, ts, reason=reason or "unknown"
            )
            return
        self._cancel(o, command.correlation_id, command.id, ts)

    def _handle_cancel_all(self, command: CancelAllOrders, ts: int) -> None:
        book = self._books.get(command.instrument_id)
        if book is None:
            return
        for o in tuple(book.orders):
            if o.strategy_id != command.strategy_id:
                continue
            if self._config.faults.cancel_rejects:
                self._emit_for(
                    OrderCancelRejected,
                    o,
                    command.correlation_id,
                    command.id,
                    ts,
                    reason="fault injection: cancel rejected",
                )
            else:
                self._cancel(o, command.correlation_id, command.id, ts)

    def _cancel(self, o: WorkingOrder, correlation_id: str, causation_id: str, ts: int) -> None:
        self._close(o, OrderStatus.CANCELED)
        self._emit_for(OrderCanceled, o, correlation_id, causation_id, ts)

    def _handle_modify(self, command: ModifyOrder, ts: int) -> None:
        o = self._orders.get(command.client_order_id)
        reason = self._order_problem(o, command)
        if reason is None and o is not None:
            reason = self._checks.modify_problem(o, command)
        if reason is not None or o is None:
            ids = (command.strategy_id, command.instrument_id, command.client_order_id)
            self._emit(
                OrderModifyRejected, ids, command.correlation_id, command.id, ts, reason=reason or "unknown"
            )
            return
        inst = o.instrument
        if command.quantity is not None:
            o.quantity_raw = command.quantity.raw
            if self._frac_raw:
                o.frac_cap_raw = self._frac_cap(inst, o.quantity_raw)
        if command.price is not None:
            o.price_raw = command.price.raw
            ref = self._checks.market_px(inst.id, o.is_buy)
            if o.mode == MODE_LIMIT:
                o.taker_pending = ref is None or (ref <= o.price_raw if o.is_buy else ref >= o.price_raw)
        if command.trigger_price is not None:
            o.trigger_raw = command.trigger_price.raw
        o.reserve_px_raw = exposure_px(o.mode, o.price_raw, o.trigger_raw, o.reserve_px_raw) or 0
        self._emit_for(
            OrderUpdated,
            o,
            command.correlation_id,
            command.id,
            ts,
            quantity=inst.qty_from_raw(o.quantity_raw),
            price=o.price(),
            trigger_price=o.trigger_price(),
        )
        if o.filled_raw and o.filled_raw == o.quantity_raw:
            self._close(o, OrderStatus.FILLED)

    # -- expiry and closing ----------------------------------------------------------------

    def _expire(self, o: WorkingOrder, ts: int) -> None:
        self._close(o, OrderStatus.EXPIRED)
        self._emit_for(OrderExpired, o, o.correlation_id, o.last_event_id, ts)

    def _close(self, o: WorkingOrder, status: OrderStatus) -> None:
        o.status = status
        o.is_open = False
        self._matcher.discard(o)

    def _trigger_updated(self, o: WorkingOrder, ts: int) -> None:
        o.reserve_px_raw = o.trigger_raw
        self._emit_for(
            OrderUpdated,
            o,
            o.correlation_id,
            o.last_event_id,
            ts,
            quantity=o.instrument.qty_from_raw(o.quantity_raw),
            price=None,
            trigger_price=o.trigger_price(),
        )

    # -- the MatchSink the matcher reports to ----------------------------------------------

    def ledger_cap(self, order: WorkingOrder, px_raw: int, qty_raw: int, taker: bool) -> int:
        """The part of ``qty_raw`` the account can carry at fill time."""
        return self._checks.ledger_cap(order, px_raw, qty_raw, taker)

    def fill(self, order: WorkingOrder, qty_raw: int, px_raw: int, taker: bool) -> None:
        """Book a fill in the ledger and report it."""
        inst = order.instrument
        notional = inst.notional_raw(px_raw, qty_raw)
        ledger = self._ledger
        fee = fee_raw(notional, order.taker_rate_raw if taker else order.maker_rate_raw, ledger.precision)
        ledger.apply_fill(inst.id, order.is_buy, px_raw, qty_raw, notional, fee)
        order.filled_raw += qty_raw
        self._trade_seq += 1
        if order.filled_raw >= order.quantity_raw:
            self._close(order, OrderStatus.FILLED)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
        # Built here rather than through _emit_for: every fill passes this line.
        now = self._clock.timestamp_ns()
        filled = OrderFilled(
            id=self._ids.new_id(),
            correlation_id=order.correlation_id,
            causation_id=order.last_event_id,
            ts_event=now,
            ts_init=now,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            account_id=self._account_id,
            trade_id=TradeId(f"{self._venue}-T-{self._trade_seq}"),
            order_side=order.side,
            order_type=order.order_type,
            last_qty=inst.qty_from_raw(qty_raw),
            last_px=inst.price_from_raw(px_raw),
            commission=Money(fee, ledger.currency),
            liquidity_side=LiquiditySide.TAKER if taker else LiquiditySide.MAKER,
        )
        self._outbox.append(filled)
        order.last_event_id = filled.id

    def trigger(self, order: WorkingOrder) -> None:
        """Report that a stop triggered."""
        order.status = OrderStatus.TRIGGERED
        self._emit_for(
            OrderTriggered, order, order.correlation_id, order.last_event_id, self._clock.timestamp_ns()
        )

    def trigger_moved(self, order: WorkingOrder) -> None:
        """Report a trailing stop's new trigger."""
        self._trigger_updated(order, self._clock.timestamp_ns())

    def cancel(self, order: WorkingOrder) -> None:
        """Cancel an order's remainder on the venue's own initiative."""
        self._cancel(order, order.correlation_id, order.last_event_id, self._clock.timestamp_ns())
