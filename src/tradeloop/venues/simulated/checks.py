"""What the simulated venue accepts: order validation and the account checks.

:class:`OrderChecks` answers "why not?" for a new order or a modify (a reason string, or
``None``), and caps a fill at what the account can carry at fill time. It reads the venue's
ledger, its working orders and the latest market state; it never changes them. The rules are
documented in :mod:`tradeloop.venues.simulated.exchange`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from tradeloop.core.ids import ClientOrderId, InstrumentId, Venue
from tradeloop.core.message import Data
from tradeloop.model.commands import ModifyOrder, SubmitOrder
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_SCALAR, fee_raw, raw_to_decimal
from tradeloop.venues.simulated.config import AccountType, SimulatedVenueConfig
from tradeloop.venues.simulated.ledger import VenueLedger
from tradeloop.venues.simulated.matching import WorkingBook
from tradeloop.venues.simulated.working_order import (
    MODE_LIMIT,
    MODE_STOP_LIMIT,
    MODE_STOP_MARKET,
    MODE_TRAILING,
    WorkingOrder,
)

__all__ = ["OrderChecks", "exposure_px", "reducible"]

_UNTRIGGERED = (MODE_STOP_MARKET, MODE_STOP_LIMIT, MODE_TRAILING)


def reducible(is_buy: bool, pos: int) -> int:
    """How much an order of this side can trade against ``pos`` before it grows the position."""
    if is_buy:
        return -pos if pos < 0 else 0
    return pos if pos > 0 else 0


def exposure_px(mode: int, price_raw: int, trigger_raw: int | None, ref: int | None) -> int | None:
    """The price an order's notional is counted at: its limit, its trigger or the market."""
    if mode in (MODE_LIMIT, MODE_STOP_LIMIT):
        return price_raw
    if mode in (MODE_STOP_MARKET, MODE_TRAILING) and trigger_raw is not None:
        return trigger_raw
    return ref


class OrderChecks:
    """Validation of new orders and modifies, and the fill-time account cap.

    Parameters
    ----------
    venue, config:
        The venue and its configuration (account type, leverage, faults).
    instruments, taker_rates:
        Listed instruments and their taker fee rates (raw).
    ledger, books, last:
        The venue's ledger, working orders by instrument and latest data by instrument; read
        live, never copied.
    """

    __slots__ = (
        "_books",
        "_cash_account",
        "_fault_rng",
        "_faults",
        "_instruments",
        "_last",
        "_ledger",
        "_leverage_raw",
        "_taker_rates",
        "_venue",
    )

    def __init__(
        self,
        venue: Venue,
        config: SimulatedVenueConfig,
        *,
        instruments: Mapping[InstrumentId, Instrument],
        taker_rates: Mapping[InstrumentId, int],
        ledger: VenueLedger,
        books: Mapping[InstrumentId, WorkingBook],
        last: Mapping[InstrumentId, Data],
    ) -> None:
        self._venue = venue
        self._faults = config.faults
        self._fault_rng = random.Random(config.faults.seed)
        self._cash_account = config.account_type is AccountType.CASH
        self._leverage_raw = int(config.leverage * FIXED_SCALAR)
        self._instruments = instruments
        self._taker_rates = taker_rates
        self._ledger = ledger
        self._books = books
        self._last = last

    # -- market state ----------------------------------------------------------------------

    def market_px(self, iid: InstrumentId, is_buy: bool) -> int | None:
        """The last known price an order of this side would meet (ask/bid, trade, close)."""
        data = self._last.get(iid)
        if isinstance(data, QuoteTick):
            return data.ask_price.raw if is_buy else data.bid_price.raw
        if isinstance(data, Bar):
            return data.close.raw
        if isinstance(data, TradeTick):
            return data.price.raw
        return None

    def mark_px(self, iid: InstrumentId) -> int:
        """The price positions are valued at: quote mid, trade price or bar close."""
        data = self._last.get(iid)
        if isinstance(data, QuoteTick):
            return (data.bid_price.raw + data.ask_price.raw) // 2
        if isinstance(data, Bar):
            return data.close.raw
        if isinstance(data, TradeTick):
            return data.price.raw
        return self._ledger.last_fill_px_raw(iid) or 0

    # -- new orders and modifies -----------------------------------------------------------

    def submit_problem(
        self, command: SubmitOrder, ts: int, known: Mapping[ClientOrderId, WorkingOrder], ref: int | None
    ) -> str | None:
        """Why the venue rejects ``command`` arriving at ``ts``, or ``None`` to accept it.

        ``ref`` is :meth:`market_px` of the order's instrument and side (the caller reads it
        once for these checks and the working order).
        """
        spec = command.order
        faults = self._faults
        if faults.reject_orders:
            return "fault injection: the venue rejects every order"
        if faults.reject_probability and self._fault_rng.random() < faults.reject_probability:
            return "fault injection: random rejection"
        if spec.client_order_id in known:
            return f"duplicate client order id {spec.client_order_id}"
        inst = self._instruments.get(spec.instrument_id)
        if inst is None:
            return f"instrument {spec.instrument_id} is not traded on venue {self._venue}"
        if command.instrument_id != spec.instrument_id or command.strategy_id != spec.strategy_id:
            return "the command's strategy or instrument differs from its order's"
        problem = inst.quantity_problem(spec.quantity)
        if problem is not None:
            return f"invalid quantity: {problem}"
        if spec.price is not None:
            problem = inst.price_problem(spec.price)
            if problem is not None:
                return f"invalid price: {problem}"
        if spec.trigger_price is not None:
            problem = inst.price_problem(spec.trigger_price)
            if problem is not None:
                return f"invalid trigger price: {problem}"
        if spec.expire_time_ns is not None and spec.expire_time_ns <= ts:
            return f"expire time {spec.expire_time_ns} is not after the venue time {ts}"
        is_buy = spec.side is OrderSide.BUY
        if (
            spec.post_only
            and spec.price is not None
            and ref is not None
            and ((ref <= spec.price.raw) if is_buy else (ref >= spec.price.raw))
        ):
            return (
                f"post-only {spec.side.value} limit at {spec.price} would cross the market at "
                f"{inst.price_from_raw(ref)} and take liquidity"
            )
        if spec.order_type is OrderType.TRAILING_STOP_MARKET and spec.trigger_price is None and ref is None:
            return f"a trailing stop needs a trigger price or a known market price for {inst.id}"
        qty = spec.quantity.raw
        if spec.reduce_only:
            pos = self._ledger.position_raw(inst.id)
            if qty > reducible(is_buy, pos):
                return (
                    f"reduce-only {spec.side.value} {spec.quantity} would increase the position "
                    f"(venue-side position {inst.qty_from_raw(abs(pos))} "
                    f"{'long' if pos > 0 else 'short' if pos < 0 else 'flat'})"
                )
        mode = WorkingOrder.mode_of(spec.order_type)
        trigger = spec.trigger_price.raw if spec.trigger_price is not None else None
        if mode == MODE_TRAILING and ref is not None:
            trigger = None  # the trail sets it from the market, which is the reference here
        px = exposure_px(mode, spec.price.raw if spec.price is not None else 0, trigger, ref)
        return self.account_problem(inst, is_buy, px, qty, None, reduce_only=spec.reduce_only)

    def modify_problem(self, o: WorkingOrder, command: ModifyOrder) -> str | None:
        """Why the venue refuses to modify open order ``o``, or ``None``."""
        if command.quantity is None and command.price is None and command.trigger_price is None:
            return "nothing to modify"
        inst = o.instrument
        qty = o.quantity_raw
        price = o.price_raw
        trigger = o.trigger_raw
        kind = o.order_type.value
        if command.quantity is not None:
            problem = inst.quantity_problem(command.quantity)
            if problem is not None:
                return f"invalid quantity: {problem}"
            if command.quantity.raw < o.filled_raw:
                return f"quantity {command.quantity} is below the filled {inst.qty_from_raw(o.filled_raw)}"
            qty = command.quantity.raw
        if command.price is not None:
            if not o.has_price:
                return f"a {kind} order has no limit price to modify"
            problem = inst.price_problem(command.price)
            if problem is not None:
                return f"invalid price: {problem}"
            price = command.price.raw
            ref = self.market_px(inst.id, o.is_buy)
            if o.post_only and ref is not None and ((ref <= price) if o.is_buy else (ref >= price)):
                return (
                    f"post-only limit at {command.price} would cross the market at {inst.price_from_raw(ref)}"
                )
        if command.trigger_price is not None:
            if not o.has_trigger:
                return f"a {kind} order has no trigger price to modify"
            if o.mode not in _UNTRIGGERED:
                return f"order {o.client_order_id} has already triggered"
            problem = inst.price_problem(command.trigger_price)
            if problem is not None:
                return f"invalid trigger price: {problem}"
            trigger = command.trigger_price.raw
        leaves = qty - o.filled_raw
        if o.reduce_only and leaves > reducible(o.is_buy, self._ledger.position_raw(inst.id)):
            return "reduce-only order would increase the position"
        px = exposure_px(o.mode, price, trigger, o.reserve_px_raw) or 0
        grows = abs(inst.notional_raw(px, leaves)) > abs(inst.notional_raw(o.reserve_px_raw, o.leaves_raw))
        if grows or leaves > o.leaves_raw:
            return self.account_problem(inst, o.is_buy, px, leaves, o, reduce_only=o.reduce_only)
        return None

    # -- the account -----------------------------------------------------------------------

    def _open(self) -> list[WorkingOrder]:
        return [o for book in self._books.values() for o in book.orders]

    def buy_cost(self, inst: Instrument, px: int, qty: int, rate_raw: int) -> int:
        """Notional plus fee of buying ``qty`` at ``px``."""
        notional = inst.notional_raw(px, qty)
        return notional + fee_raw(notional, rate_raw, self._ledger.precision)

    def cash_free(self, exclude: WorkingOrder | None) -> int:
        """Cash less what the open buys other than ``exclude`` reserve (notional and taker fee)."""
        free = self._ledger.cash_raw
        for o in self._open():
            if o.is_buy and o is not exclude:
                free -= max(0, self.buy_cost(o.instrument, o.reserve_px_raw, o.leaves_raw, o.taker_rate_raw))
        return free

    def _exposure(self, inst: Instrument, is_buy: bool, px: int, qty: int) -> int:
        """Notional of the part of an order that would grow the position."""
        extra = qty - reducible(is_buy, self._ledger.position_raw(inst.id))
        return abs(inst.notional_raw(px, extra)) if extra > 0 else 0

    def buying_power(self, exclude: WorkingOrder | None) -> int:
        """MARGIN: equity x leverage minus the gross exposure of positions and other open orders."""
        equity = self._ledger.cash_raw
        gross = 0
        for iid, pos in self._ledger.positions_raw().items():
            value = self._instruments[iid].notional_raw(self.mark_px(iid), pos)
            equity += value
            gross += abs(value)
        for o in self._open():
            if o is not exclude:
                gross += self._exposure(o.instrument, o.is_buy, o.reserve_px_raw, o.leaves_raw)
        return equity * self._leverage_raw // FIXED_SCALAR - gross

    def account_problem(
        self,
        inst: Instrument,
        is_buy: bool,
        px: int | None,
        qty: int,
        exclude: WorkingOrder | None,
        *,
        reduce_only: bool = False,
    ) -> str | None:
        """Why the account cannot carry ``qty`` more at ``px`` (besides ``exclude``), or ``None``."""
        ccy = self._ledger.currency
        taker = self._taker_rates[inst.id]
        if self._cash_account and not is_buy:
            if reduce_only:
                # Checked against the position already, and capped to it at fill time: a
                # reduce-only sell can never go short, so it commits nothing (brackets work).
                return None
            pos = self._ledger.position_raw(inst.id)
            committed = sum(
                o.leaves_raw
                for o in self._open()
                if o.instrument_id == inst.id and not o.is_buy and not o.reduce_only and o is not exclude
            )
            if qty > pos - committed:
                return (
                    f"no shorting on a CASH account: position {inst.qty_from_raw(max(pos, 0))}, "
                    f"open sells {inst.qty_from_raw(committed)}, order {inst.qty_from_raw(qty)}"
                )
            return None
        if self._cash_account:
            if px is None:
                return f"no market price known for {inst.id}: cannot check the cash for a market buy"
            need = self.buy_cost(inst, px, qty, taker)
            free = self.cash_free(exclude)
            if need > free:
                return (
                    f"insufficient cash: need {self._money(need)} {ccy} (notional and taker fee), "
                    f"available {self._money(free)} {ccy}"
                )
            return None
        extra = qty - reducible(is_buy, self._ledger.position_raw(inst.id))
        if extra <= 0:
            return None  # purely reducing: never blocked
        if px is None:
            return f"no market price known for {inst.id}: cannot check the buying power"
        notional = abs(inst.notional_raw(px, extra))
        need = notional + max(0, fee_raw(notional, taker, self._ledger.precision))
        power = self.buying_power(exclude)
        if need > power:
            return (
                f"insufficient buying power: need {self._money(need)} {ccy}, "
                f"available {self._money(max(power, 0))} {ccy}"
            )
        return None

    def _money(self, raw: int) -> str:
        return str(raw_to_decimal(raw, self._ledger.precision))

    def ledger_cap(self, order: WorkingOrder, px_raw: int, qty_raw: int, taker: bool) -> int:
        """The part of ``qty_raw`` the account can carry at fill time (whole lots)."""
        cap = qty_raw
        if order.reduce_only:
            cap = min(cap, reducible(order.is_buy, self._ledger.position_raw(order.instrument_id)))
        if not self._cash_account or cap <= 0:
            return cap
        if not order.is_buy:
            return min(cap, max(0, self._ledger.position_raw(order.instrument_id)))
        inst = order.instrument
        rate = order.taker_rate_raw if taker else order.maker_rate_raw
        free = self.cash_free(order)
        if px_raw <= 0 or self.buy_cost(inst, px_raw, cap, rate) <= free:
            return cap
        # The largest whole number of lots that fits: cost grows with size, so bisect.
        lot = inst.size_increment.raw
        lo, hi = 0, cap // lot
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.buy_cost(inst, px_raw, mid * lot, rate) <= free:
                lo = mid
            else:
                hi = mid - 1
        return lo * lot
