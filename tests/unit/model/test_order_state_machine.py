"""The order state machine against a table written here from the order lifecycle.

The expected table below is derived from what each event means, not imported from
``ORDER_TRANSITIONS``; a test compares the two and pins every disagreement
(:data:`KNOWN_GAPS`).

Lifecycle, in words:

* INITIALIZED: the risk engine may deny it; the execution engine submits it; a strategy may
  cancel it before it was ever sent.
* SUBMITTED (sent, not yet acknowledged): the venue accepts or rejects it; it may also cancel
  or expire it at once (IOC/FOK), trigger it, or fill it before the acknowledgement arrives;
  a modify or cancel may already be on its way (PENDING_UPDATE / PENDING_CANCEL).
* ACCEPTED / TRIGGERED / PARTIALLY_FILLED (working at the venue): modify and cancel requests
  go pending; an unsolicited amendment (OrderUpdated) and a late modify/cancel rejection keep
  the status; it can be canceled, expire, or fill. Only a stop order that has not triggered
  can trigger; a triggered stop-limit can still be rejected by the venue.
* PENDING_UPDATE / PENDING_CANCEL: the venue's answer (updated, modify rejected, cancel
  rejected) returns to the status before the request; any other change at the venue
  (trigger, fill, cancel, expiry) supersedes the pending marker.
* DENIED, REJECTED, FILLED, CANCELED, EXPIRED are closed: nothing moves them.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core import AccountId, ClientOrderId, InvalidOrderTransition, StrategyId, VenueOrderId
from tradeloop.model import (
    ORDER_TRANSITIONS,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderSide,
    OrderSpec,
    OrderStatus,
    OrderSubmitted,
    OrderTriggered,
    OrderType,
    OrderUpdated,
    Price,
    Quantity,
)
from tradeloop.model.orders import FILL as SOURCE_FILL
from tradeloop.model.orders import RESTORE as SOURCE_RESTORE
from tradeloop.testkit import es_future, id_factory, make_fill

S = OrderStatus
FILL = "fill"  # lands in PARTIALLY_FILLED or FILLED by what is left
BEFORE = "before-pending"  # back to the status the order had before the pending request

EXPECTED: dict[tuple[OrderStatus, type[OrderEvent]], OrderStatus | str] = {
    (S.INITIALIZED, OrderDenied): S.DENIED,
    (S.INITIALIZED, OrderSubmitted): S.SUBMITTED,
    (S.INITIALIZED, OrderCanceled): S.CANCELED,
    (S.SUBMITTED, OrderAccepted): S.ACCEPTED,
    (S.SUBMITTED, OrderRejected): S.REJECTED,
    (S.SUBMITTED, OrderCanceled): S.CANCELED,
    (S.SUBMITTED, OrderExpired): S.EXPIRED,
    (S.SUBMITTED, OrderTriggered): S.TRIGGERED,
    (S.SUBMITTED, OrderPendingUpdate): S.PENDING_UPDATE,
    (S.SUBMITTED, OrderPendingCancel): S.PENDING_CANCEL,
    (S.SUBMITTED, OrderFilled): FILL,
}
for _working in (S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED):
    EXPECTED.update(
        {
            (_working, OrderPendingUpdate): S.PENDING_UPDATE,
            (_working, OrderPendingCancel): S.PENDING_CANCEL,
            (_working, OrderUpdated): _working,
            (_working, OrderModifyRejected): _working,
            (_working, OrderCancelRejected): _working,
            (_working, OrderCanceled): S.CANCELED,
            (_working, OrderExpired): S.EXPIRED,
            (_working, OrderFilled): FILL,
        }
    )
EXPECTED[(S.ACCEPTED, OrderTriggered)] = S.TRIGGERED
EXPECTED[(S.TRIGGERED, OrderRejected)] = S.REJECTED
EXPECTED.update(
    {
        (S.PENDING_UPDATE, OrderUpdated): BEFORE,
        (S.PENDING_UPDATE, OrderModifyRejected): BEFORE,
        (S.PENDING_UPDATE, OrderPendingCancel): S.PENDING_CANCEL,
        (S.PENDING_UPDATE, OrderTriggered): S.TRIGGERED,
        (S.PENDING_UPDATE, OrderCanceled): S.CANCELED,
        (S.PENDING_UPDATE, OrderExpired): S.EXPIRED,
        (S.PENDING_UPDATE, OrderFilled): FILL,
        (S.PENDING_CANCEL, OrderCancelRejected): BEFORE,
        (S.PENDING_CANCEL, OrderCanceled): S.CANCELED,
        (S.PENDING_CANCEL, OrderExpired): S.EXPIRED,
        (S.PENDING_CANCEL, OrderFilled): FILL,
        # Races the source table does not allow (KNOWN_GAPS): a modify or cancel sent while
        # SUBMITTED, and the venue's answer to the original order arrives afterwards...
        (S.PENDING_UPDATE, OrderAccepted): S.ACCEPTED,
        (S.PENDING_CANCEL, OrderAccepted): S.ACCEPTED,
        (S.PENDING_UPDATE, OrderRejected): S.REJECTED,
        (S.PENDING_CANCEL, OrderRejected): S.REJECTED,
        # ... a stop triggers while a cancel is in flight ...
        (S.PENDING_CANCEL, OrderTriggered): S.TRIGGERED,
        # ... or a modify's answer arrives after a cancel was sent behind it.
        (S.PENDING_CANCEL, OrderUpdated): S.PENDING_CANCEL,
        (S.PENDING_CANCEL, OrderModifyRejected): S.PENDING_CANCEL,
    }
)

RACES: frozenset[tuple[OrderStatus, type[OrderEvent]]] = frozenset(
    {
        (S.PENDING_UPDATE, OrderAccepted),
        (S.PENDING_CANCEL, OrderAccepted),
        (S.PENDING_UPDATE, OrderRejected),
        (S.PENDING_CANCEL, OrderRejected),
        (S.PENDING_CANCEL, OrderTriggered),
        (S.PENDING_CANCEL, OrderUpdated),
        (S.PENDING_CANCEL, OrderModifyRejected),
    }
)

KNOWN_GAPS: frozenset[tuple[OrderStatus, type[OrderEvent]]] = frozenset()
"""Pairs the lifecycle allows and ``ORDER_TRANSITIONS`` refuses (reported to the lead)."""

AGREED: dict[tuple[OrderStatus, type[OrderEvent]], OrderStatus | str] = {
    pair: target for pair, target in EXPECTED.items() if pair not in KNOWN_GAPS
}

EVENT_TYPES: tuple[type[OrderEvent], ...] = (
    OrderDenied,
    OrderSubmitted,
    OrderAccepted,
    OrderRejected,
    OrderTriggered,
    OrderPendingUpdate,
    OrderPendingCancel,
    OrderUpdated,
    OrderModifyRejected,
    OrderCancelRejected,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
)
CLOSED = frozenset({S.DENIED, S.REJECTED, S.FILLED, S.CANCELED, S.EXPIRED})
PENDING = frozenset({S.PENDING_UPDATE, S.PENDING_CANCEL})

ES = es_future()
ORDER_QTY = 10
COID = ClientOrderId("O-100")


def new_order(order_type: OrderType = OrderType.STOP_LIMIT) -> Order:
    return Order(
        OrderSpec(
            client_order_id=COID,
            strategy_id=StrategyId("S-1"),
            instrument_id=ES.id,
            side=OrderSide.BUY,
            order_type=order_type,
            quantity=ES.make_qty(ORDER_QTY),
            price=ES.make_price("4500.25"),
            trigger_price=ES.make_price("4500.00"),
        )
    )


_ids = id_factory(11)
_ts = iter(range(1, 10**9))


def make_event(
    cls: type[OrderEvent], *, fill_qty: int = 1, update_qty: int = ORDER_QTY, px: str = "4500"
) -> Any:
    """A valid event of ``cls`` for the order under test."""
    ts = next(_ts)
    if cls is OrderFilled:
        return make_fill(
            ES,
            OrderSide.BUY,
            Quantity.from_int(fill_qty),
            px,
            client_order_id=COID,
            venue_order_id="V-7",
            order_type=OrderType.STOP_LIMIT,
            ts_ns=ts,
            ids=_ids,
        )
    common: dict[str, Any] = {
        "ts_event": ts,
        "ts_init": ts,
        "id": _ids.new_id(),
        "correlation_id": "corr",
        "strategy_id": StrategyId("S-1"),
        "instrument_id": ES.id,
        "client_order_id": COID,
    }
    extra: dict[type[OrderEvent], dict[str, Any]] = {
        OrderDenied: {"reason": "risk"},
        OrderSubmitted: {"account_id": AccountId("SIM-001")},
        OrderAccepted: {"venue_order_id": VenueOrderId("V-7")},
        OrderRejected: {"reason": "venue"},
        OrderUpdated: {"quantity": Quantity.from_int(update_qty), "price": ES.make_price("4499.75")},
        OrderModifyRejected: {"reason": "too late"},
        OrderCancelRejected: {"reason": "too late"},
    }
    return cls(**common, **extra.get(cls, {}))


PATHS: dict[OrderStatus, list[type[OrderEvent]]] = {
    S.INITIALIZED: [],
    S.DENIED: [OrderDenied],
    S.SUBMITTED: [OrderSubmitted],
    S.ACCEPTED: [OrderSubmitted, OrderAccepted],
    S.REJECTED: [OrderSubmitted, OrderRejected],
    S.TRIGGERED: [OrderSubmitted, OrderAccepted, OrderTriggered],
    S.PENDING_UPDATE: [OrderSubmitted, OrderAccepted, OrderPendingUpdate],
    S.PENDING_CANCEL: [OrderSubmitted, OrderAccepted, OrderPendingCancel],
    S.PARTIALLY_FILLED: [OrderSubmitted, OrderAccepted, OrderFilled],
    S.FILLED: [OrderSubmitted, OrderAccepted, OrderFilled],
    S.CANCELED: [OrderSubmitted, OrderAccepted, OrderCanceled],
    S.EXPIRED: [OrderSubmitted, OrderAccepted, OrderExpired],
}
PATH_FILL_QTY = {S.PARTIALLY_FILLED: 3, S.FILLED: ORDER_QTY}


def order_in(status: OrderStatus) -> Order:
    order = new_order()
    for cls in PATHS[status]:
        order.apply(make_event(cls, fill_qty=PATH_FILL_QTY.get(status, 1)))
    assert order.status is status
    return order


def snapshot(order: Order) -> tuple[Any, ...]:
    return (
        order.status,
        order.quantity,
        order.price,
        order.trigger_price,
        order.filled_raw,
        order.leaves_raw,
        order.avg_px,
        order.venue_order_id,
        tuple(order.events),
        order.ts_last,
        order.is_open,
        order.is_closed,
        order.is_inflight,
    )


# -- the table -------------------------------------------------------------------------------


def test_source_table_allows_nothing_the_lifecycle_forbids() -> None:
    assert set(ORDER_TRANSITIONS) - set(EXPECTED) == set()


def test_source_table_misses_exactly_the_known_gaps() -> None:
    assert set(EXPECTED) - set(ORDER_TRANSITIONS) == KNOWN_GAPS


def test_source_table_targets_agree_with_the_lifecycle() -> None:
    translate = {SOURCE_FILL: FILL, SOURCE_RESTORE: BEFORE}
    for pair, target in ORDER_TRANSITIONS.items():
        assert translate.get(target, target) == EXPECTED[pair], pair


def test_closed_statuses_are_exactly_the_terminal_ones() -> None:
    assert {s for s in S if s.is_closed} == CLOSED
    assert {s for s, _ in EXPECTED} & CLOSED == set()
    assert {s for s in S if s.is_open} == {
        S.ACCEPTED,
        S.TRIGGERED,
        S.PENDING_UPDATE,
        S.PENDING_CANCEL,
        S.PARTIALLY_FILLED,
    }


# -- every pair ------------------------------------------------------------------------------


def pair_key(pair: tuple[OrderStatus, type[OrderEvent]]) -> tuple[str, str]:
    return (pair[0].value, pair[1].__name__)


def case_id(value: object) -> str:
    return str(getattr(value, "value", None) or getattr(value, "__name__", value))


AGREED_CASES = sorted(AGREED, key=pair_key)
RACE_CASES = sorted(RACES, key=pair_key)
SUBMIT_RACES = {pair for pair in RACES if pair[1] in (OrderAccepted, OrderRejected)}


@pytest.mark.parametrize(
    ("status", "cls"),
    AGREED_CASES,
    ids=case_id,
)
def test_legal_event_is_accepted_and_lands_in_the_expected_status(
    status: OrderStatus, cls: type[OrderEvent]
) -> None:
    if (status, cls) in SUBMIT_RACES:  # a request sent while SUBMITTED, then the order's answer
        order = new_order()
        for step in (
            OrderSubmitted,
            OrderPendingUpdate if status is S.PENDING_UPDATE else OrderPendingCancel,
        ):
            order.apply(make_event(step))
    else:
        order = order_in(status)
    filled_before = order.filled_raw
    event = make_event(cls)
    order.apply(event)
    target = AGREED[(status, cls)]
    landed: OrderStatus | str
    if target == FILL:
        landed = S.FILLED if filled_before + event.last_qty.raw == order.quantity.raw else S.PARTIALLY_FILLED
    elif target == BEFORE:
        landed = S.ACCEPTED  # the status each pending path came from
    else:
        landed = target
    assert order.status is landed
    assert order.events[-1] is event
    assert order.ts_last == event.ts_event


ILLEGAL = [(s, cls) for s in S for cls in EVENT_TYPES if (s, cls) not in EXPECTED]


@pytest.mark.parametrize(("status", "cls"), ILLEGAL, ids=case_id)
def test_illegal_event_raises_and_leaves_the_order_unchanged(
    status: OrderStatus, cls: type[OrderEvent]
) -> None:
    order = order_in(status)
    before = snapshot(order)
    with pytest.raises(InvalidOrderTransition, match="not allowed"):
        order.apply(make_event(cls))
    assert snapshot(order) == before


@pytest.mark.parametrize(
    ("status", "cls"),
    RACE_CASES,
    ids=case_id,
)
def test_race_event_during_a_pending_request_is_accepted(status: OrderStatus, cls: type[OrderEvent]) -> None:
    order = new_order()
    order.apply(make_event(OrderSubmitted))
    if cls is OrderTriggered:
        order.apply(make_event(OrderAccepted))
    elif cls in (OrderUpdated, OrderModifyRejected):
        order.apply(make_event(OrderAccepted))
        order.apply(make_event(OrderPendingUpdate))
    order.apply(make_event(OrderPendingUpdate if status is S.PENDING_UPDATE else OrderPendingCancel))
    order.apply(make_event(cls))
    assert order.status is EXPECTED[(status, cls)]


# -- pending requests, fills and updates ------------------------------------------------------


@pytest.mark.parametrize("origin", [S.SUBMITTED, S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED])
@pytest.mark.parametrize(
    ("request_cls", "answer_cls"),
    [
        (OrderPendingUpdate, OrderUpdated),
        (OrderPendingUpdate, OrderModifyRejected),
        (OrderPendingCancel, OrderCancelRejected),
    ],
)
def test_answer_to_a_pending_request_restores_the_status_before_it(
    origin: OrderStatus, request_cls: type[OrderEvent], answer_cls: type[OrderEvent]
) -> None:
    order = order_in(origin)
    order.apply(make_event(request_cls))
    assert order.is_inflight
    order.apply(make_event(answer_cls, update_qty=ORDER_QTY))
    assert order.status is origin


def test_cancel_rejected_after_update_then_cancel_restores_the_status_before_both() -> None:
    order = order_in(S.TRIGGERED)
    order.apply(make_event(OrderPendingUpdate))
    order.apply(make_event(OrderPendingCancel))
    order.apply(make_event(OrderCancelRejected))
    assert order.status is S.TRIGGERED


def test_fills_accumulate_exactly_and_the_last_one_fills_the_order() -> None:
    order = order_in(S.ACCEPTED)
    order.apply(make_event(OrderFilled, fill_qty=3, px="4500.25"))
    order.apply(make_event(OrderFilled, fill_qty=7, px="4499.75"))
    assert order.status is S.FILLED
    assert order.filled_qty == Quantity.from_int(10)
    assert order.leaves_qty == Quantity(0, 0)
    assert str(order.avg_px) == "4499.9"
    assert order.venue_order_id == "V-7"
    assert order.is_closed


def test_fill_before_the_acknowledgement_is_accepted() -> None:
    order = order_in(S.SUBMITTED)
    order.apply(make_event(OrderFilled, fill_qty=4))
    assert order.status is S.PARTIALLY_FILLED
    assert order.venue_order_id == "V-7"
    assert order.avg_px is not None


@pytest.mark.parametrize("fill_qty", [0, 8, 11])
def test_overfill_or_empty_fill_raises_and_leaves_the_order_unchanged(fill_qty: int) -> None:
    order = order_in(S.PARTIALLY_FILLED)  # 3 of 10 filled
    before = snapshot(order)
    with pytest.raises(InvalidOrderTransition):
        order.apply(make_event(OrderFilled, fill_qty=fill_qty))
    assert snapshot(order) == before


def test_update_changes_quantity_and_price_and_can_complete_a_partly_filled_order() -> None:
    order = order_in(S.PARTIALLY_FILLED)  # 3 of 10 filled
    order.apply(make_event(OrderPendingUpdate))
    order.apply(make_event(OrderUpdated, update_qty=3))
    assert order.quantity == Quantity.from_int(3)
    assert order.price == Price.from_str("4499.75")
    assert order.status is S.FILLED


def test_update_below_the_filled_quantity_raises_and_leaves_the_order_unchanged() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    order.apply(make_event(OrderPendingUpdate))
    before = snapshot(order)
    with pytest.raises(InvalidOrderTransition, match="at least the 3 filled"):
        order.apply(make_event(OrderUpdated, update_qty=2))
    assert snapshot(order) == before
    order.apply(make_event(OrderModifyRejected))
    assert order.status is S.PARTIALLY_FILLED  # the pending request is still answerable


def test_an_update_to_zero_quantity_raises_and_leaves_the_order_unchanged() -> None:
    order = order_in(S.ACCEPTED)
    order.apply(make_event(OrderPendingUpdate))
    before = snapshot(order)
    with pytest.raises(InvalidOrderTransition, match="it must be positive"):
        order.apply(make_event(OrderUpdated, update_qty=0))
    assert snapshot(order) == before


def test_event_of_another_order_raises_and_leaves_the_order_unchanged() -> None:
    order = order_in(S.ACCEPTED)
    before = snapshot(order)
    other = make_event(OrderCanceled)
    foreign = OrderCanceled(
        ts_event=other.ts_event,
        ts_init=other.ts_init,
        id=other.id,
        correlation_id=other.correlation_id,
        strategy_id=other.strategy_id,
        instrument_id=other.instrument_id,
        client_order_id=ClientOrderId("O-999"),
    )
    with pytest.raises(InvalidOrderTransition, match="O-999"):
        order.apply(foreign)
    assert snapshot(order) == before


def test_new_order_reflects_its_spec() -> None:
    order = new_order()
    assert order.status is S.INITIALIZED
    assert order.client_order_id == COID
    assert order.instrument_id == ES.id
    assert order.side is OrderSide.BUY
    assert order.order_type is OrderType.STOP_LIMIT
    assert order.leaves_qty == Quantity.from_int(ORDER_QTY)
    assert order.avg_px is None
    assert not order.is_open
    assert not order.is_closed
    assert "O-100" in repr(order)


# -- property: random event sequences ---------------------------------------------------------


class Model:
    """The expected order, driven by :data:`AGREED` and the fill/update rules."""

    def __init__(self) -> None:
        self.status = S.INITIALIZED
        self.before = S.INITIALIZED
        self.qty = ORDER_QTY
        self.filled = 0

    def apply(self, cls: type[OrderEvent], fill_qty: int, update_qty: int) -> bool:
        """Apply if legal and return True; return False (changing nothing) if illegal."""
        target = AGREED.get((self.status, cls))
        if target is None:
            return False
        if (self.status, cls) in SUBMIT_RACES and self.before is not S.SUBMITTED:
            return False  # the order's own answer only races a request sent while SUBMITTED
        qty, filled = self.qty, self.filled
        if target == FILL:
            if fill_qty <= 0 or filled + fill_qty > qty:
                return False
            filled += fill_qty
            new = S.FILLED if filled == qty else S.PARTIALLY_FILLED
        elif target == BEFORE:
            new = self.before
        else:
            assert isinstance(target, OrderStatus)
            new = target
        if cls is OrderUpdated:
            if update_qty <= 0 or update_qty < filled:
                return False
            qty = update_qty
            if filled and filled == qty:
                new = S.FILLED
        if new in PENDING and self.status not in PENDING:
            self.before = self.status
        self.status, self.qty, self.filled = new, qty, filled
        return True


# Events that close the order are drawn less often, so sequences reach the working states.
_WEIGHTS: dict[type[OrderEvent], int] = {
    OrderSubmitted: 3,
    OrderAccepted: 3,
    OrderPendingUpdate: 3,
    OrderPendingCancel: 3,
    OrderUpdated: 3,
    OrderModifyRejected: 3,
    OrderCancelRejected: 3,
    OrderTriggered: 2,
    OrderFilled: 4,
    OrderDenied: 1,
    OrderRejected: 1,
    OrderCanceled: 1,
    OrderExpired: 1,
}
WEIGHTED_EVENTS: list[type[OrderEvent]] = [cls for cls, n in _WEIGHTS.items() for _ in range(n)]
assert set(WEIGHTED_EVENTS) == set(EVENT_TYPES)

steps = st.lists(
    st.tuples(st.sampled_from(WEIGHTED_EVENTS), st.integers(0, 6), st.integers(1, 12)),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(steps)
def test_random_event_sequences_keep_the_order_legal_and_never_overfilled(
    sequence: list[tuple[type[OrderEvent], int, int]],
) -> None:
    order = new_order()
    model = Model()
    for cls, fill_qty, update_qty in sequence:
        was_closed = order.is_closed
        before = snapshot(order)
        legal = model.apply(cls, fill_qty, update_qty)
        event = make_event(cls, fill_qty=fill_qty, update_qty=update_qty)
        if legal:
            order.apply(event)
        else:
            with pytest.raises(InvalidOrderTransition):
                order.apply(event)
            assert snapshot(order) == before
        assert not (was_closed and legal), "a closed order accepted an event"
        assert order.status is model.status
        assert order.quantity.raw == Quantity.from_int(model.qty).raw
        assert order.filled_raw == Quantity.from_int(model.filled).raw
        assert 0 <= order.filled_raw <= order.quantity.raw
        assert (order.status is S.FILLED) == (order.filled_raw == order.quantity.raw and order.filled_raw > 0)
        if order.status is S.PARTIALLY_FILLED:
            assert 0 < order.filled_raw < order.quantity.raw
        assert not (order.is_open and order.is_closed)


@pytest.mark.parametrize("answer", [OrderAccepted, OrderRejected])
@pytest.mark.parametrize("request_event", [OrderPendingUpdate, OrderPendingCancel])
def test_an_answer_to_the_submit_after_the_order_was_acknowledged_or_filled_is_refused(
    answer: type[OrderEvent], request_event: type[OrderEvent]
) -> None:
    for status in (S.ACCEPTED, S.PARTIALLY_FILLED):
        order = order_in(status)
        order.apply(make_event(request_event))
        before = snapshot(order)
        with pytest.raises(InvalidOrderTransition, match="only allowed for a request sent before"):
            order.apply(make_event(answer))
        assert snapshot(order) == before


@pytest.mark.parametrize("order_type", [OrderType.MARKET, OrderType.LIMIT])
def test_only_a_stop_order_can_trigger(order_type: OrderType) -> None:
    order = Order(
        OrderSpec(
            client_order_id=COID,
            strategy_id=StrategyId("S-1"),
            instrument_id=ES.id,
            side=OrderSide.BUY,
            order_type=order_type,
            quantity=ES.make_qty(ORDER_QTY),
            price=ES.make_price("4500.25") if order_type is OrderType.LIMIT else None,
        )
    )
    order.apply(make_event(OrderSubmitted))
    order.apply(make_event(OrderAccepted))
    with pytest.raises(InvalidOrderTransition, match=f"a {order_type.value} order cannot trigger"):
        order.apply(make_event(OrderTriggered))
    assert order.status is S.ACCEPTED
