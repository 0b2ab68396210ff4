"""What the crash-recovery tests check of a session: its store against the venue's state."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tradeloop.model.events import OrderFilled
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money
from tradeloop.runtime.projection import ProjectionState, rebuild
from tradeloop.runtime.recovery import ReconciliationCompleted
from tradeloop.store.port import ReadFilter
from tradeloop.store.sqlite_store import SqliteEventStore
from tradeloop.venues.simulated.server import VenueState


def projection(store_path: Path, instrument: Instrument, starting_cash: Money) -> ProjectionState:
    with SqliteEventStore(store_path) as store:
        return rebuild(store, instruments=[instrument], starting_balance=starting_cash).state()


def event_log(store_path: Path) -> list[tuple[str, bytes]]:
    """The event log without restart annotations."""
    with SqliteEventStore(store_path) as store:
        return [
            (r.type_name, r.payload) for r in store.read() if r.type_name != ReconciliationCompleted.TYPE_NAME
        ]


def store_fills(store_path: Path) -> list[str]:
    with SqliteEventStore(store_path) as store:
        records = store.read(ReadFilter(types=frozenset({OrderFilled.TYPE_NAME})))
        return [str(r.decode().trade_id) for r in records]  # type: ignore[attr-defined]


def store_reconciliations(store_path: Path) -> list[ReconciliationCompleted]:
    with SqliteEventStore(store_path) as store:
        out = []
        for r in store.read(ReadFilter(types=frozenset({ReconciliationCompleted.TYPE_NAME}))):
            message = r.decode()
            assert isinstance(message, ReconciliationCompleted)
            out.append(message)
        return out


def assert_store_matches_venue(
    store_path: Path, venue: VenueState, instrument: Instrument, starting_cash: Money
) -> None:
    state = projection(store_path, instrument, starting_cash)
    fills = store_fills(store_path)
    venue_fills = [f.trade_id for f in venue.fills]
    # No order executed twice, no fill duplicated or lost.
    assert venue.duplicate_submits == 0
    assert len(set(venue_fills)) == len(venue_fills)
    assert len(set(fills)) == len(fills)
    assert sorted(fills) == sorted(venue_fills)
    venue_orders = {o.client_order_id: o for o in venue.orders}
    for cid in Counter(f.client_order_id for f in venue.fills):
        assert sum(f.qty_raw for f in venue.fills if f.client_order_id == cid) == venue_orders[cid].filled_raw
    # The node's rebuilt state is the venue's.
    assert {o.client_order_id for o in state.orders} >= set(venue_orders)
    for o in state.orders:
        if o.client_order_id in venue_orders:
            assert o.filled_qty.raw == venue_orders[o.client_order_id].filled_raw
            assert o.status == venue_orders[o.client_order_id].status
    net = sum((p.quantity.raw if p.side == "LONG" else -p.quantity.raw) for p in state.open_positions)
    assert net == venue.positions[str(instrument.id)]
    assert state.cash.raw == venue.cash_raw
    assert state.commissions.raw == venue.commissions_raw
    assert state.fills == len(venue_fills)
