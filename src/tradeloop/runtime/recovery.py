"""Crash recovery: a node that can be killed at any instant and resumes exactly where it was.

:class:`RecoverableNode` trades against a :class:`~tradeloop.venues.simulated.server.VenueServer`
in another process, in lock-step (see that module): the venue sends item ``i`` (its order
events, then the market data), the node processes it, stores everything, and acknowledges.
The machinery is one class, :class:`VenueLink` (recording, replay, reconciliation, the
lock-step loop), shared by :class:`RecoverableNode` and the paper node's remote mode
(``node.venue.mode: remote`` of :class:`~tradeloop.runtime.paper.PaperNode`). The link records
only what the kernel publishes while it works for the venue (an item, an answer, the
strategies' start it owns, the session's end): that is what a rebuild re-derives.

Durability by item
------------------
The node's :class:`~tradeloop.store.sqlite_store.SqliteEventStore` commits once per item: every
message the item caused (the venue's events, the data, the node's commands and events, and
two markers, :class:`VenueItemReceived` and :class:`VenueItemProcessed`) goes into one
transaction *before* the ``Ack``. So the store always ends at an item boundary, and a crash
after the ``Ack`` loses nothing. Commands go to the venue as the strategies send them (a
synchronous request; the answer is published with a :class:`VenueReplied` marker naming it).

Recovery is deterministic re-execution
--------------------------------------
On start the node (a) verifies its store and cuts a corrupted or torn tail
(:meth:`~tradeloop.store.buffered.BufferedEventStore.verify` /
:meth:`~tradeloop.store.buffered.BufferedEventStore.truncate_after`), and then an unfinished
item (records after the last :class:`VenueItemProcessed`); (b) rebuilds a fresh kernel - same
seed, same strategies - by feeding it the venue's inputs *from the store* (each item's events
and data, and each command's stored answer) instead of the venue. Nothing is sent to the venue
while it does. The kernel then re-derives every message it published before the crash, and
each is checked byte for byte against the stored record (a difference is a
:class:`RecoveryError`: the node is not deterministic). So strategies, indicators, orders,
positions, the account, the order factories' counters and the id factory are all exactly where
they were: ids continue as in an uninterrupted run. (c) It reconciles with the venue's
:class:`~tradeloop.venues.simulated.server.VenueState` and publishes
:class:`ReconciliationCompleted`; (d) it acknowledges the last stored item and resumes.

What reconciliation finds. The venue moves only on the node's acknowledgements and keeps every
item and answer it sent. What the node lost in a crash - the last item's fills, orders it
had sent but not stored - the venue sends again when asked (the same frames, the same event
ids), and a command it already handled (same command id: the node re-derives the same ids) is
answered as before, not executed again. So reconciliation lists what the venue holds that the
store lacks (delivered again by the venue's replayed frames), and, once the node has caught up
with the last item the venue sent, checks that fills, orders, positions and cash agree; any
difference is reported in ``mismatches`` (none is expected, and the chaos test asserts none).
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tradeloop.core.clock import SimulatedClock
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import AccountId, InstrumentId, Venue
from tradeloop.core.message import Data, Event, Message
from tradeloop.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder, TradingCommand
from tradeloop.model.data import Bar, BarSpec
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderFilled
from tradeloop.model.instruments import Instrument
from tradeloop.runtime.kernel import Kernel
from tradeloop.store.log_writer import read_frame, write_frame
from tradeloop.store.port import Durability, StoredEvent, encode_message
from tradeloop.store.sqlite_store import SqliteEventStore
from tradeloop.strategy.config import StrategyConfig
from tradeloop.strategy.strategy import Strategy
from tradeloop.venues.simulated.config import SimulatedVenueConfig
from tradeloop.venues.simulated.server import (
    Ack,
    Answer,
    Bye,
    Cmd,
    End,
    Frame,
    Hello,
    Item,
    ProtocolError,
    VenueState,
    decode_frame,
    encode_frame,
    pack,
    unpack,
)

__all__ = [
    "NodeSpec",
    "ReconciliationCompleted",
    "RecoverableNode",
    "RecoveryError",
    "RecoveryReport",
    "RemoteVenueClient",
    "VenueItem",
    "VenueItemProcessed",
    "VenueLink",
    "VenueItemReceived",
    "VenueReplied",
    "VenueSessionEnded",
    "write_node_spec",
]


class RecoveryError(TradeloopError):
    """The store cannot be replayed into the node (it differs from what the node re-derives)."""


# -- markers in the log ------------------------------------------------------------------------


class VenueItemReceived(Event, frozen=True, kw_only=True, gc=False):
    """Item ``index`` arrived; ``event_ids`` are the venue's events that came with it."""

    index: int
    event_ids: tuple[str, ...]


class VenueItemProcessed(Event, frozen=True, kw_only=True, gc=False):
    """Item ``index`` is processed: everything up to here is committed before the ``Ack``."""

    index: int


class VenueSessionEnded(Event, frozen=True, kw_only=True, gc=False):
    """The venue had no more items; the strategies were stopped (the session is complete)."""

    items: int


class VenueReplied(Event, frozen=True, kw_only=True, gc=False):
    """The venue answered command ``command_id`` with the events ``event_ids`` (published next)."""

    command_id: str
    event_ids: tuple[str, ...]


class ReconciliationCompleted(Event, frozen=True, kw_only=True, gc=False):
    """A restarted node compared its rebuilt state with the venue's.

    ``restart``: how many times the node restarted from a non-empty store; ``items_replayed``:
    items rebuilt from the store; ``venue_sent``/``venue_acked``: the venue's last item sent and
    acknowledged; ``fills_redelivered``/``orders_redelivered``: trade ids and client order ids
    the venue holds that the store lacked (the venue sends them again with the items it
    replays); ``truncated``: records cut from a corrupted or unfinished tail, with the reason;
    ``mismatches``: differences no replayed item explains (none is expected).
    """

    restart: int
    items_replayed: int
    venue_sent: int
    venue_acked: int
    fills_redelivered: tuple[str, ...]
    orders_redelivered: tuple[str, ...]
    truncated: tuple[str, ...]
    mismatches: tuple[str, ...]


_ANNOTATIONS = frozenset({ReconciliationCompleted.TYPE_NAME})
"""Records a restart adds that an uninterrupted run does not have: skipped when replaying."""


# -- the node's specification ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """What a recoverable node runs: it must match the venue server's session.

    ``bars``: the bar streams the venue serves, ``(instrument id, bar spec)``, so strategies may
    subscribe to them; ``strategies``: strategy classes with their configs.
    """

    venue: str
    instruments: tuple[Instrument, ...]
    venue_config: SimulatedVenueConfig
    bars: tuple[tuple[str, str], ...]
    strategies: tuple[tuple[type[Strategy], StrategyConfig], ...]
    seed: int = 0


def write_node_spec(path: Path | str, spec: NodeSpec) -> Path:
    """Write a node spec for the node process (a pickle: a trusted local input)."""
    out = Path(path)
    out.write_bytes(pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
    return out


def _read_node_spec(path: Path) -> NodeSpec:
    spec = pickle.loads(path.read_bytes())
    if not isinstance(spec, NodeSpec):
        raise TradeloopError(f"{path} holds a {type(spec).__name__}, not a NodeSpec")
    return spec


# -- the venue client --------------------------------------------------------------------------


class _Connection:
    """The node's end of the lock-step socket."""

    def __init__(self, socket_path: Path, *, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(socket_path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise TradeloopError(f"no venue server listens on {socket_path}") from None
                time.sleep(0.02)
        self._sock = sock
        self._r: IO[bytes] = sock.makefile("rb")
        self._w: IO[bytes] = sock.makefile("wb")

    def request(self, frame: Frame) -> Frame:
        write_frame(self._w, encode_frame(frame))
        body = read_frame(self._r)
        if body is None:
            raise TradeloopError("the venue server closed the connection")
        return decode_frame(body)

    def send(self, frame: Frame) -> None:
        write_frame(self._w, encode_frame(frame))

    def close(self) -> None:
        for stream in (self._w, self._r):
            with contextlib.suppress(OSError):
                stream.close()
        self._sock.close()


class RemoteVenueClient:
    """The :class:`~tradeloop.execution.client.ExecutionClient` of a venue in another process.

    Each command is a synchronous request: the venue handles it at once and its answer
    (order events) is published, behind a :class:`VenueReplied` marker, before the call
    returns - as the in-process simulated venue with zero latency does. While the link replays
    its store (:attr:`VenueLink.replaying`), answers come from the stored markers and nothing
    is sent. A command outside the link's recorded work (an item, the strategies' start or the
    session's end) is refused: the venue would act on it but the store would not know it.
    """

    def __init__(self, venue: Venue, account_id: AccountId, link: VenueLink) -> None:
        self._venue = venue
        self._account_id = account_id
        self._link = link
        self.commands_sent = 0

    @property
    def venue(self) -> Venue:
        return self._venue

    @property
    def account_id(self) -> AccountId:
        return self._account_id

    def submit_order(self, command: SubmitOrder) -> None:
        self._execute(command)

    def cancel_order(self, command: CancelOrder) -> None:
        self._execute(command)

    def modify_order(self, command: ModifyOrder) -> None:
        self._execute(command)

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        self._execute(command)

    def _execute(self, command: TradingCommand) -> None:
        link = self._link
        if link.replaying:
            link.publish_stored_reply(command.id)
            return
        if not link.capturing:
            raise TradeloopError(
                f"the remote venue takes commands only while the node processes an item; "
                f"{type(command).__name__} {command.id} was not sent"
            )
        reply = link.connection.request(Cmd(pack(command)))
        if not isinstance(reply, Answer) or reply.command_id != command.id:
            raise ProtocolError(f"expected the answer to command {command.id}, got {reply!r}")
        self.commands_sent += 1
        link.publish_reply(command.id, [unpack(e) for e in reply.events])


# -- the link: recording, replay, reconciliation, the lock-step loop ---------------------------


@dataclass(slots=True)
class RecoveryReport:
    """What one start of the node did."""

    restart: int = 0
    truncated: list[str] = field(default_factory=list)
    items_replayed: int = 0
    records_replayed: int = 0
    items_processed: int = 0
    commands_sent: int = 0
    reconciliation: ReconciliationCompleted | None = None
    finished: bool = False


@dataclass(frozen=True, slots=True)
class VenueItem:
    """One item of the venue's session: its order events, then its market data."""

    index: int
    events: tuple[Message, ...]
    data: Data


class VenueLink:
    """A kernel's recoverable connection to a venue server (see the module docstring).

    The one implementation of recovery that :class:`RecoverableNode` and the paper node's
    remote mode (:class:`~tradeloop.runtime.paper.PaperNode`) share: it replaces the kernel's
    in-process venue with a :class:`RemoteVenueClient`, records what the kernel publishes
    while it works for the venue (one transaction per item), rebuilds the kernel from its
    store, reconciles with the venue and then steps through the venue's items.

    Parameters
    ----------
    kernel:
        A built kernel whose venue ``venue`` the server runs; its clock must be ``clock``.
    clock:
        The kernel's simulated clock: it follows the items' times, so a rerun is identical.
    venue:
        The venue the server runs (its in-process twin is dropped from the kernel).
    store_path:
        The SQLite event store (created if missing, recovered if not).
    socket_path:
        The venue server's Unix socket.
    start_strategies:
        Starts the strategies (recorded) before the first item, live and in replay; ``None``
        when the caller starts them itself, before :meth:`recover`.
    stop_strategies_at_end:
        Stop the strategies when the venue ends the session (else the caller stops them).
    node_name:
        How the node introduces itself to the venue.
    """

    def __init__(
        self,
        kernel: Kernel,
        clock: SimulatedClock,
        venue: str,
        store_path: Path | str,
        socket_path: Path | str,
        *,
        start_strategies: Callable[[], None] | None = None,
        stop_strategies_at_end: bool = True,
        node_name: str = "recoverable-node",
    ) -> None:
        if kernel.clock is not clock:
            raise TradeloopError("VenueLink: the clock must be the kernel's clock")
        self.kernel = kernel
        self.clock = clock
        self.store_path = Path(store_path)
        self.socket_path = Path(socket_path)
        self._start_hook = start_strategies
        self._stop_at_end = stop_strategies_at_end
        self._node_name = node_name
        local = kernel.venues.pop(Venue(venue), None)
        if local is None:
            raise TradeloopError(f"VenueLink: the kernel has no venue {venue!r} to replace")
        self.client = RemoteVenueClient(local.venue, local.account_id, self)
        kernel.execution.register_client(self.client, replace=True)
        # One transaction per item (see the module docstring): never commit a partial item.
        self.store = SqliteEventStore(self.store_path, durability=Durability.BATCH, batch_size=2**40)
        self._buffer: list[Message] = []
        self._expected: list[StoredEvent] = []
        self._cursor = 0
        self.replaying = False
        self.capturing = False
        self._replies: dict[str, VenueReplied] = {}
        self._events: dict[str, Event] = {}
        self.items_processed = 0
        self.last_stored = -1
        """Index of the last item processed and committed (``-1``: none)."""
        self.ended = False
        self._connection: _Connection | None = None
        self._closed = False
        kernel.bus.add_recorder(self._record)

    @property
    def connection(self) -> _Connection:
        if self._connection is None:
            raise TradeloopError("the node is not connected to its venue")
        return self._connection

    # -- recording ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _capture(self) -> Iterator[None]:
        """Record what the kernel publishes meanwhile (nested uses keep recording)."""
        before = self.capturing
        self.capturing = True
        try:
            yield
        finally:
            self.capturing = before

    def _record(self, message: Message) -> None:
        if not self.capturing:
            return  # not venue work (a service's state, a wall-clock alert): not replayable
        expected = self._expected
        if self._cursor < len(expected):
            record = expected[self._cursor]
            while record.type_name in _ANNOTATIONS:
                self._cursor += 1
                if self._cursor == len(expected):
                    self._buffer.append(message)
                    return
                record = expected[self._cursor]
            if record.type_name != message.TYPE_NAME or record.payload != encode_message(message):
                raise RecoveryError(
                    f"replay diverged at record {record.seq}: the store has a {record.type_name}, "
                    f"the node re-derived a {message.TYPE_NAME} ({message!r}); the node is not "
                    "deterministic or its configuration changed"
                )
            self._cursor += 1
            return
        self._buffer.append(message)

    def commit(self) -> None:
        """Append what was recorded since the last commit in one transaction."""
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self.store.append(batch)
        self.store.flush()

    # -- inputs (the same path live and in replay) -------------------------------------------

    def _move_clock(self, ts: int) -> None:
        if ts >= self.clock.next_due_ns:
            self.clock.advance_time(ts)
        else:
            self.clock.set_time(ts)

    def process_item(self, index: int, events: Sequence[Message], data: Data) -> None:
        """Deliver item ``index``: the venue's events with their marker, then the data, then
        the end marker (all recorded; :meth:`commit` stores them)."""
        with self._capture():
            ts = data.ts_init
            self._move_clock(ts)
            publish = self.kernel.bus.publish
            ids = tuple(e.id for e in events if isinstance(e, Event))
            marker_id = f"item-{index}-received"
            publish(
                VenueItemReceived(
                    id=marker_id,
                    correlation_id=marker_id,
                    ts_event=ts,
                    ts_init=ts,
                    index=index,
                    event_ids=ids,
                )
            )
            for event in events:
                self._move_clock(event.ts_init)
                publish(event)
            self._move_clock(ts)
            publish(data)
            done_id = f"item-{index}-processed"
            publish(
                VenueItemProcessed(id=done_id, correlation_id=done_id, ts_event=ts, ts_init=ts, index=index)
            )
        self.items_processed = index + 1

    def store_item(self, item: VenueItem) -> None:
        """Process ``item`` and commit it: afterwards the venue may be told it is done."""
        self.process_item(item.index, item.events, item.data)
        self.commit()
        self.last_stored = item.index

    def publish_reply(self, command_id: str, events: Sequence[Message]) -> None:
        """Publish a venue's answer behind its :class:`VenueReplied` marker."""
        now = self.clock.timestamp_ns()
        ids = tuple(e.id for e in events if isinstance(e, Event))
        marker_id = f"reply-{command_id}"
        publish = self.kernel.bus.publish
        publish(
            VenueReplied(
                id=marker_id,
                correlation_id=marker_id,
                causation_id=command_id,
                ts_event=now,
                ts_init=now,
                command_id=command_id,
                event_ids=ids,
            )
        )
        for event in events:
            publish(event)

    def publish_stored_reply(self, command_id: str) -> None:
        """Replay: publish the stored answer to ``command_id`` (nothing goes to the venue)."""
        marker = self._replies.get(command_id)
        if marker is None:
            raise RecoveryError(f"the store has no venue answer to command {command_id}")
        self.publish_reply(command_id, [self._stored_event(i) for i in marker.event_ids])

    def _stored_event(self, event_id: str) -> Event:
        event = self._events.get(event_id)
        if event is None:
            raise RecoveryError(f"the store lacks venue event {event_id} named by a marker")
        return event

    # -- recovery ----------------------------------------------------------------------------

    def _repair(self) -> list[str]:
        """Cut a corrupted tail, then an unfinished item; returns what was cut and why."""
        cuts: list[str] = []
        report = self.store.verify()
        if not report.ok:
            assert report.first_bad_seq is not None
            keep = report.first_bad_seq - 1
            deleted = self.store.truncate_after(keep)
            cuts.append(f"corrupted record {report.first_bad_seq}: {report.reason}; cut {deleted} records")
        last_done = 0
        tail = 0
        for record in self.store.read():
            if record.type_name in (VenueItemProcessed.TYPE_NAME, VenueSessionEnded.TYPE_NAME):
                last_done, tail = record.seq, 0
            elif record.type_name not in _ANNOTATIONS:
                tail += 1
        if tail:
            deleted = self.store.truncate_after(last_done)
            cuts.append(f"unfinished item after record {last_done}: cut {deleted} records")
        return cuts

    def _replay(self) -> int:
        """Rebuild the kernel from the store; returns the number of items replayed."""
        records = list(self.store.read())
        received: list[VenueItemReceived] = []
        data: list[Data] = []
        ended = False
        for record in records:
            message = record.decode()
            if isinstance(message, VenueSessionEnded):
                ended = True
            elif isinstance(message, VenueItemReceived):
                received.append(message)
            elif isinstance(message, VenueReplied):
                self._replies[message.command_id] = message
            elif isinstance(message, Data):
                data.append(message)
            elif isinstance(message, Event):
                self._events[message.id] = message
        if len(data) != len(received):
            raise RecoveryError(f"the store has {len(received)} items but {len(data)} market data records")
        self._expected = records
        self._cursor = 0
        self.replaying = True
        try:
            self._start_strategies()
            for index, (marker, item) in enumerate(zip(received, data, strict=True)):
                if marker.index != index:
                    raise RecoveryError(f"item {marker.index} is stored where item {index} belongs")
                self.process_item(index, [self._stored_event(i) for i in marker.event_ids], item)
            if ended:
                self._end_session(len(received))
            while self._cursor < len(records) and records[self._cursor].type_name in _ANNOTATIONS:
                self._cursor += 1
            if self._cursor != len(records):
                raise RecoveryError(
                    f"replay re-derived {self._cursor} of {len(records)} stored records; record "
                    f"{records[self._cursor].seq} ({records[self._cursor].type_name}) was not"
                )
        finally:
            self.replaying = False
            self._expected = []
            self._events.clear()
            self._replies.clear()
        if self._buffer:
            raise RecoveryError(f"replay published {len(self._buffer)} messages the store does not have")
        self.ended = ended
        self.last_stored = len(received) - 1
        return len(received)

    def _end_session(self, items: int) -> None:
        """Stop the strategies (if the link owns them) and mark the session complete (committed
        by the caller)."""
        with self._capture():
            if self._stop_at_end:
                for strategy in self.kernel.strategies:
                    with contextlib.suppress(TradeloopError):
                        strategy.stop()
            self.kernel.bus.drain()
            now = self.clock.timestamp_ns()
            self.kernel.bus.publish(
                VenueSessionEnded(
                    id="session-ended", correlation_id="session-ended", ts_event=now, ts_init=now, items=items
                )
            )
        self.ended = True

    def _start_strategies(self) -> None:
        if self._start_hook is not None:
            with self._capture():
                self._start_hook()

    def _reconcile(
        self, venue: VenueState, items: int, restart: int, truncated: list[str]
    ) -> ReconciliationCompleted:
        node_fills = {
            str(m.trade_id) for m in self._stored_messages() if isinstance(m, OrderFilled)
        }  # fmt: skip
        venue_fills = [f.trade_id for f in venue.fills]
        node_orders = {str(o.client_order_id) for o in self.kernel.execution.orders()}
        fills_missing = tuple(t for t in venue_fills if t not in node_fills)
        orders_missing = tuple(
            o.client_order_id for o in venue.orders if o.client_order_id not in node_orders
        )
        mismatches: list[str] = [
            f"fill {t} is in the store but not at the venue" for t in node_fills - set(venue_fills)
        ]
        caught_up = items - 1 == venue.sent
        if caught_up:
            # Same inputs on both sides: everything must agree now.
            mismatches += [f"venue fill {t} is missing from the store" for t in fills_missing]
            mismatches += [f"venue order {c} is missing from the store" for c in orders_missing]
            mismatches += self._compare_books(venue)
        elif items - 1 > venue.sent:
            mismatches.append(f"the store has {items} items, the venue sent only {venue.sent + 1}")
        now = self.clock.timestamp_ns()
        event_id = f"recovery-{restart}"
        return ReconciliationCompleted(
            id=event_id,
            correlation_id=event_id,
            ts_event=now,
            ts_init=now,
            restart=restart,
            items_replayed=items,
            venue_sent=venue.sent,
            venue_acked=venue.acked,
            fills_redelivered=() if caught_up else fills_missing,
            orders_redelivered=() if caught_up else orders_missing,
            truncated=tuple(truncated),
            mismatches=tuple(mismatches),
        )

    def _compare_books(self, venue: VenueState) -> list[str]:
        out: list[str] = []
        portfolio = self.kernel.portfolio
        assert portfolio is not None
        net: dict[str, int] = {}
        for p in portfolio.positions_open():
            signed = p.quantity.raw if p.entry_side is OrderSide.BUY else -p.quantity.raw
            net[str(p.instrument_id)] = net.get(str(p.instrument_id), 0) + signed
        for iid, raw in venue.positions.items():
            if net.get(iid, 0) != raw:
                out.append(f"position {iid}: node {net.get(iid, 0)} raw, venue {raw} raw")
        if portfolio.account.cash.raw != venue.cash_raw:
            out.append(f"cash: node {portfolio.account.cash.raw} raw, venue {venue.cash_raw} raw")
        venue_open = {o.client_order_id for o in venue.open_orders}
        node_open = {str(o.client_order_id) for o in self.kernel.execution.open_orders()}
        if venue_open != node_open:
            out.append(f"open orders: node {sorted(node_open)}, venue {sorted(venue_open)}")
        return out

    def _stored_messages(self) -> list[Message]:
        return [r.decode() for r in self.store.read()]

    # -- running -----------------------------------------------------------------------------

    def recover(self) -> RecoveryReport:
        """Repair and replay the store, connect, reconcile (after a restart) and get ready for
        :meth:`next_item`. With a session that already ended, only says ``Bye`` to a venue
        still waiting and reports ``finished``."""
        report = RecoveryReport()
        report.truncated = self._repair()
        restart = sum(1 for r in self.store.read() if r.type_name == ReconciliationCompleted.TYPE_NAME) + (
            1 if self.store.last_seq() else 0
        )
        report.restart = restart
        items = self._replay() if self.store.last_seq() else 0
        report.items_replayed = items
        if self.ended:
            # Killed after the session's end was stored (and perhaps after the venue
            # stopped): only tell a venue still waiting for it that the node is done.
            report.finished = True
            with contextlib.suppress(TradeloopError, OSError):
                _Connection(self.socket_path, timeout_s=0.5).send(Bye())
            return report
        self._connection = _Connection(self.socket_path)
        venue = self.connection.request(Hello(node=self._node_name))
        if not isinstance(venue, VenueState):
            raise ProtocolError(f"expected the venue's state, got {type(venue).__name__}")
        report.records_replayed = self.store.last_seq()
        if items == 0 and self.store.last_seq() == 0:
            self._start_strategies()
            self.commit()
        if restart:
            reconciliation = self._reconcile(venue, items, restart, report.truncated)
            report.reconciliation = reconciliation
            with self._capture():
                self.kernel.bus.publish(reconciliation)
            self.commit()
            print(
                f"recovery {restart}: replayed {items} items; venue sent {venue.sent}, "
                f"acked {venue.acked}; redelivered fills {len(reconciliation.fills_redelivered)}; "
                f"truncated {list(reconciliation.truncated)}; "
                f"mismatches {list(reconciliation.mismatches)}",
                file=sys.stderr,
                flush=True,
            )
        return report

    def next_item(self) -> VenueItem | None:
        """Acknowledge the last stored item and receive the next; ``None`` when the venue ends
        the session (then the end is stored and the venue told ``Bye``)."""
        if self.ended:
            return None
        connection = self.connection
        frame = connection.request(Ack(self.last_stored))
        if isinstance(frame, End):
            self._end_session(frame.items)
            self.commit()
            connection.send(Bye())
            return None
        if not isinstance(frame, Item) or frame.index != self.last_stored + 1:
            raise ProtocolError(f"expected item {self.last_stored + 1}, got {frame!r}")
        data = unpack(frame.data)
        if not isinstance(data, Data):
            raise ProtocolError(f"item {frame.index} carries a {frame.data.type_name}, not market data")
        return VenueItem(frame.index, tuple(unpack(e) for e in frame.events), data)

    def close(self) -> None:
        """Close the connection and the store (idempotent); nothing uncommitted is kept."""
        if self._closed:
            return
        self._closed = True
        if self._connection is not None:
            self._connection.close()
        self.store.close()


class RecoverableNode:
    """A node that rebuilds itself from its store and resumes (see the module docstring).

    Parameters
    ----------
    spec:
        Instruments, venue, strategies and seed; must match the venue server's session.
    store_path:
        The node's SQLite event store (created if missing, recovered if not).
    socket_path:
        The venue server's Unix socket.
    """

    def __init__(self, spec: NodeSpec, store_path: Path | str, socket_path: Path | str) -> None:
        self.spec = spec
        self.clock = SimulatedClock()
        kernel = self.kernel = Kernel(self.clock, seed=spec.seed, history_size=0)
        for instrument in spec.instruments:
            kernel.add_instrument(instrument)
        kernel.add_venue(spec.venue, spec.venue_config)
        for cls, config in spec.strategies:
            kernel.add_strategy(cls(config))
        for iid, bar_spec in spec.bars:
            if InstrumentId(iid) not in kernel.instruments:
                raise TradeloopError(f"bars of {iid}, which is not among the node's instruments")
            kernel.router.declare(Bar, InstrumentId(iid), BarSpec.parse(bar_spec))
        kernel.build()
        # The venue runs in the server process: the link drops the in-process simulated venue.
        self.link = VenueLink(
            kernel, self.clock, spec.venue, store_path, socket_path, start_strategies=self._start_strategies
        )

    def _start_strategies(self) -> None:
        for strategy in self.kernel.strategies:
            strategy.start()

    def run(self) -> RecoveryReport:
        """Recover (if the store has anything), reconcile, and trade to the end of the session."""
        link = self.link
        report = RecoveryReport()
        try:
            report = link.recover()
            if not report.finished:
                while (item := link.next_item()) is not None:
                    link.store_item(item)  # the store holds the whole item before the Ack
                report.finished = True
        finally:
            report.items_processed = link.items_processed
            report.commands_sent = link.client.commands_sent
            link.close()
        return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradeloop.runtime.recovery", description=__doc__)
    parser.add_argument("--socket", required=True, type=Path, help="the venue server's Unix socket")
    parser.add_argument("--store", required=True, type=Path, help="the node's SQLite event store")
    parser.add_argument("--spec", required=True, type=Path, help="node spec file (write_node_spec)")
    args = parser.parse_args(argv)
    node = RecoverableNode(_read_node_spec(args.spec), args.store, args.socket)
    report = node.run()
    return 0 if report.finished else 1


if __name__ == "__main__":
    # Through the imported module, so pickled specs resolve to the same classes.
    from tradeloop.runtime.recovery import main as _main

    raise SystemExit(_main())
