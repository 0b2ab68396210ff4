"""The simulated venue as a process of its own: the market a recoverable node trades against.

:class:`VenueServer` owns a :class:`~tradeloop.venues.simulated.exchange.SimulatedExchange` on
its own :class:`~tradeloop.core.clock.SimulatedClock` *and* the session's market data, and
serves one node at a time over a Unix socket. It outlives the node: a node killed at any
instant reconnects and finds the venue exactly where it left it.

Lock-step protocol
------------------
Frames are an 8-byte big-endian length and a msgpack body (:func:`write_frame`/
:func:`read_frame` of :mod:`tradeloop.store.log_writer`); each body is one of the protocol
structs below (a tagged union). Bus messages travel inside as ``(type name, payload)`` pairs
(:class:`Encoded`), decoded under the message registry.

* the node says :class:`Hello`; the server answers :class:`VenueState` (a snapshot: open
  orders, every fill, positions, cash, the index of the last item sent and acknowledged);
* the node sends :class:`Ack` ``(i)`` - "I have processed and stored every item up to ``i``" -
  (``-1`` for none); the server answers with item ``i + 1``: an :class:`Item` holding the order
  events of matching that item's data against resting orders, then the data itself;
* while processing an item the node sends commands (:class:`Cmd`); each is handled at once
  (zero latency) and answered with an :class:`Answer` holding its order events;
* after the last item the server answers an ``Ack`` with :class:`End`; the node says
  :class:`Bye` and the server writes its final state as JSON and exits.

The market never moves while the node is down or busy, so a session is deterministic
whatever the timing of a crash. Items and answers are kept: an ``Ack`` for an item already
sent (a node that crashed before storing it) re-sends the same frame, and a command whose id
was already handled gets its original answer again without being executed a second time
(:attr:`VenueServer.resent_commands`). A ``SubmitOrder`` with a new command id for a client
order id the venue already knows is refused as a duplicate and counted
(:attr:`VenueServer.duplicate_submits`) - it is never executed twice.

Run it as ``python -m tradeloop.venues.simulated.server --socket PATH --session FILE
--state-out FILE`` (or :func:`start_venue_server`). The session file is a pickle of a
:class:`VenueSession` written by :func:`write_session`: a trusted local input, like the
node's own store.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import msgspec

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import SimulatedClock
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import ClientOrderId, IdFactory, Venue
from tradeloop.core.message import Data, Event, Message
from tradeloop.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.events import OrderFilled
from tradeloop.model.instruments import Instrument
from tradeloop.store.log_writer import read_frame, write_frame
from tradeloop.store.port import decode_payload, encode_message
from tradeloop.venues.simulated.config import SimulatedVenueConfig
from tradeloop.venues.simulated.exchange import SimulatedExchange

__all__ = [
    "Ack",
    "Answer",
    "Bye",
    "Cmd",
    "Encoded",
    "End",
    "FillRecord",
    "Frame",
    "Hello",
    "Item",
    "OrderRecord",
    "ProtocolError",
    "VenueServer",
    "VenueSession",
    "VenueState",
    "decode_frame",
    "encode_frame",
    "pack",
    "read_state",
    "start_venue_server",
    "unpack",
    "write_session",
]


class ProtocolError(TradeloopError):
    """A peer broke the lock-step protocol (an unexpected frame, an item out of order)."""


# -- the protocol ------------------------------------------------------------------------------


class Encoded(msgspec.Struct, array_like=True, frozen=True):
    """A bus message on the wire: its registered type name and msgpack payload."""

    type_name: str
    payload: bytes


def pack(message: Message) -> Encoded:
    return Encoded(message.TYPE_NAME, encode_message(message))


def unpack(encoded: Encoded) -> Message:
    return decode_payload(encoded.type_name, encoded.payload)


class Hello(msgspec.Struct, tag=True, frozen=True):
    """The node connects."""

    node: str


class Ack(msgspec.Struct, tag=True, frozen=True):
    """Every item up to ``index`` is processed and stored; send the next (``-1``: none yet)."""

    index: int


class Cmd(msgspec.Struct, tag=True, frozen=True):
    """A trading command for the venue."""

    command: Encoded


class Bye(msgspec.Struct, tag=True, frozen=True):
    """The node has stored the end of the session; the server may stop."""


class OrderRecord(msgspec.Struct, frozen=True):
    """One venue order as the venue sees it."""

    client_order_id: str
    venue_order_id: str
    status: str
    quantity_raw: int
    filled_raw: int


class FillRecord(msgspec.Struct, frozen=True):
    """One fill the venue executed."""

    trade_id: str
    client_order_id: str
    instrument_id: str
    side: str
    qty_raw: int
    px_raw: int
    commission_raw: int


class VenueState(msgspec.Struct, tag=True, frozen=True):
    """The venue's snapshot: its answer to :class:`Hello`, and its final state as JSON.

    ``sent``/``acked``: index of the last item sent and acknowledged (``-1``: none);
    ``items``: how many items the session has; ``positions``: signed raw quantity per instrument.
    """

    sent: int
    acked: int
    items: int
    orders: list[OrderRecord]
    fills: list[FillRecord]
    positions: dict[str, int]
    cash_raw: int
    commissions_raw: int
    executed_commands: int
    resent_commands: int
    resent_items: int
    duplicate_submits: int
    connections: int

    @property
    def open_orders(self) -> list[OrderRecord]:
        return [o for o in self.orders if o.status in _OPEN]


class Item(msgspec.Struct, tag=True, frozen=True):
    """Item ``index``: the order events of matching it, then the market data itself."""

    index: int
    events: list[Encoded]
    data: Encoded


class Answer(msgspec.Struct, tag=True, frozen=True):
    """The venue's order events in answer to one command."""

    command_id: str
    events: list[Encoded]


class End(msgspec.Struct, tag=True, frozen=True):
    """No items are left: the session is over."""

    items: int


Frame = Hello | Ack | Cmd | Bye | VenueState | Item | Answer | End
_OPEN = frozenset({"ACCEPTED", "TRIGGERED", "PARTIALLY_FILLED", "PENDING_UPDATE", "PENDING_CANCEL"})
_ENCODER = msgspec.msgpack.Encoder()
_DECODER: msgspec.msgpack.Decoder[Frame] = msgspec.msgpack.Decoder(Frame)


def encode_frame(frame: Frame) -> bytes:
    return _ENCODER.encode(frame)


def decode_frame(body: bytes) -> Frame:
    """A frame body; raises :class:`ProtocolError` if it is none of the protocol's frames."""
    try:
        frame: Frame = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(f"undecodable protocol frame: {exc}") from None
    return frame


# -- the session -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueSession:
    """What the venue serves: its name, instruments, configuration and market data."""

    venue: str
    instruments: tuple[Instrument, ...]
    config: SimulatedVenueConfig
    data: tuple[Data, ...]

    def __post_init__(self) -> None:
        if not self.data:
            raise TradeloopError("a venue session needs market data; none was given")
        for index, item in enumerate(self.data):
            if not isinstance(item, Bar | QuoteTick | TradeTick):
                raise TradeloopError(f"session data item {index} is a {type(item).__name__}, not market data")


def write_session(path: Path | str, session: VenueSession) -> Path:
    """Write a session file for the server process (a pickle: a trusted local input)."""
    out = Path(path)
    out.write_bytes(pickle.dumps(session, protocol=pickle.HIGHEST_PROTOCOL))
    return out


def _read_session(path: Path) -> VenueSession:
    session = pickle.loads(path.read_bytes())
    if not isinstance(session, VenueSession):
        raise TradeloopError(f"{path} holds a {type(session).__name__}, not a VenueSession")
    return session


# -- the server --------------------------------------------------------------------------------


class VenueServer:
    """Serves one :class:`VenueSession` to one node at a time (see the module docstring).

    Parameters
    ----------
    session:
        The venue, its instruments, configuration and data.
    seed:
        Seeds the venue's event ids.
    """

    def __init__(self, session: VenueSession, *, seed: int = 1) -> None:
        self.session = session
        self.clock = SimulatedClock()
        self._captured: list[Event] = []
        self.bus = MessageBus(self.clock, IdFactory(seed), history_size=0)
        self.bus.add_recorder(self._capture)
        self.exchange = SimulatedExchange(
            Venue(session.venue),
            bus=self.bus,
            clock=self.clock,
            ids=IdFactory(seed + 1),
            instruments=list(session.instruments),
            config=session.config,
        )
        self._frames: list[Item] = []  # every item sent, for a node that lost one
        self._answers: dict[str, Answer] = {}  # command id -> its answer
        self._submitted: set[ClientOrderId] = set()
        self._fills: list[FillRecord] = []
        self.acked = -1
        self.executed_commands = 0
        self.resent_commands = 0
        self.resent_items = 0
        self.duplicate_submits = 0
        self.connections = 0
        self.finished = False

    @property
    def sent(self) -> int:
        return len(self._frames) - 1

    def _capture(self, message: Message) -> None:
        if isinstance(message, Event):
            self._captured.append(message)
            if isinstance(message, OrderFilled):
                self._fills.append(
                    FillRecord(
                        str(message.trade_id), str(message.client_order_id), str(message.instrument_id),
                        message.order_side.value, message.last_qty.raw, message.last_px.raw,
                        message.commission.raw,
                    )
                )  # fmt: skip

    def _take_captured(self) -> list[Encoded]:
        events, self._captured = self._captured, []
        return [pack(e) for e in events]

    # -- protocol handlers -------------------------------------------------------------------

    def state(self) -> VenueState:
        """The venue's snapshot now."""
        exchange = self.exchange
        orders = []
        for cid in sorted(self._submitted):
            report = exchange.order_report(cid)
            if report is not None:
                orders.append(
                    OrderRecord(
                        str(report.client_order_id), str(report.venue_order_id), report.status.value,
                        report.quantity.raw, report.filled_qty.raw,
                    )
                )  # fmt: skip
        return VenueState(
            sent=self.sent,
            acked=self.acked,
            items=len(self.session.data),
            orders=orders,
            fills=list(self._fills),
            positions={str(i.id): exchange.position_raw(i.id) for i in self.session.instruments},
            cash_raw=exchange.cash_raw,
            commissions_raw=exchange.commissions().raw,
            executed_commands=self.executed_commands,
            resent_commands=self.resent_commands,
            resent_items=self.resent_items,
            duplicate_submits=self.duplicate_submits,
            connections=self.connections,
        )

    def on_ack(self, index: int) -> Item | End:
        """The node has stored every item up to ``index``: the next item (or :class:`End`)."""
        nxt = index + 1
        if nxt < 0 or nxt > len(self._frames):
            raise ProtocolError(
                f"ack of item {index}, but only items up to {self.sent} were sent; "
                "a node cannot have processed an item it never received"
            )
        self.acked = max(self.acked, index)
        if nxt < len(self._frames):
            self.resent_items += 1
            return self._frames[nxt]
        if nxt >= len(self.session.data):
            return End(len(self.session.data))
        data = self.session.data[nxt]
        ts = data.ts_init
        if ts >= self.clock.next_due_ns:
            self.clock.advance_time(ts)
        else:
            self.clock.set_time(ts)
        exchange = self.exchange
        if ts >= exchange.next_due_ns:
            exchange.advance_time(ts)
        if isinstance(data, Bar):
            exchange.process_bar(data)
        elif isinstance(data, QuoteTick):
            exchange.process_quote_tick(data)
        elif isinstance(data, TradeTick):
            exchange.process_trade_tick(data)
        frame = Item(nxt, self._take_captured(), pack(data))
        self._frames.append(frame)
        return frame

    def on_command(self, encoded: Encoded) -> Answer:
        """Handle a command at once, or answer a repeated one as the first time."""
        command = unpack(encoded)
        command_id = getattr(command, "id", None)
        if command_id is None:
            raise ProtocolError(f"a {encoded.type_name} is not a command")
        known = self._answers.get(command_id)
        if known is not None:
            self.resent_commands += 1
            return known
        if isinstance(command, SubmitOrder):
            cid = command.order.client_order_id
            if cid in self._submitted:
                # Another command for an order already placed: never executed twice.
                self.duplicate_submits += 1
                return Answer(command_id, [])
            self._submitted.add(cid)
            self.exchange.submit_order(command)
        elif isinstance(command, CancelOrder):
            self.exchange.cancel_order(command)
        elif isinstance(command, ModifyOrder):
            self.exchange.modify_order(command)
        elif isinstance(command, CancelAllOrders):
            self.exchange.cancel_all_orders(command)
        else:
            raise ProtocolError(f"the venue cannot handle a {encoded.type_name}")
        self.executed_commands += 1
        answer = Answer(command_id, self._take_captured())
        self._answers[command_id] = answer
        return answer

    # -- serving -----------------------------------------------------------------------------

    def serve_connection(self, rfile: IO[bytes], wfile: IO[bytes]) -> None:
        """Serve one node until it disconnects or says :class:`Bye`."""
        self.connections += 1
        while True:
            body = read_frame(rfile)
            if body is None:
                return  # the node went away: keep the state and wait for it
            frame = decode_frame(body)
            reply: Frame
            if isinstance(frame, Hello):
                reply = self.state()
            elif isinstance(frame, Ack):
                reply = self.on_ack(frame.index)
            elif isinstance(frame, Cmd):
                reply = self.on_command(frame.command)
            elif isinstance(frame, Bye):
                self.finished = True
                return
            else:
                raise ProtocolError(f"a node does not send {type(frame).__name__}")
            write_frame(wfile, encode_frame(reply))

    def serve(self, socket_path: Path, state_out: Path | None = None) -> VenueState:
        """Listen on ``socket_path`` and serve nodes one after the other until one says Bye;
        then write the final state (JSON) to ``state_out`` and return it."""
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(socket_path))
            listener.listen(1)
            while not self.finished:
                conn, _ = listener.accept()
                with conn, conn.makefile("rb") as rfile, conn.makefile("wb") as wfile:
                    try:
                        self.serve_connection(rfile, wfile)
                    except ConnectionError:  # BrokenPipeError and resets among them
                        continue  # killed mid-frame: the node will reconnect
        finally:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                socket_path.unlink()
        final = self.state()
        if state_out is not None:
            tmp = state_out.with_suffix(".tmp")
            tmp.write_bytes(msgspec.json.encode(final))
            os.replace(tmp, state_out)
        return final


def start_venue_server(
    socket_path: Path | str,
    session_path: Path | str,
    state_out: Path | str,
    *,
    seed: int = 1,
    timeout_s: float = 30.0,
) -> subprocess.Popen[bytes]:
    """Start the server in a process of its own; returns once its socket accepts."""
    sock = Path(socket_path)
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    args = [
        sys.executable, "-m", "tradeloop.venues.simulated.server", "--socket", str(sock),
        "--session", str(session_path), "--state-out", str(state_out), "--seed", str(seed),
    ]  # fmt: skip
    proc = subprocess.Popen(args)
    deadline = time.monotonic() + timeout_s
    while not sock.exists():
        if proc.poll() is not None:
            raise TradeloopError(f"the venue server exited with code {proc.returncode} before listening")
        if time.monotonic() > deadline:
            proc.kill()
            raise TradeloopError(f"the venue server did not listen on {sock} within {timeout_s} s")
        time.sleep(0.01)
    return proc


def read_state(path: Path | str) -> VenueState:
    """A final state the server wrote as JSON."""
    return msgspec.json.decode(Path(path).read_bytes(), type=VenueState)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradeloop.venues.simulated.server", description=__doc__)
    parser.add_argument("--socket", required=True, type=Path, help="Unix socket to listen on")
    parser.add_argument("--session", required=True, type=Path, help="session file (write_session)")
    parser.add_argument("--state-out", type=Path, default=None, help="where to write the final state (JSON)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the venue's event ids")
    args = parser.parse_args(argv)
    server = VenueServer(_read_session(args.session), seed=args.seed)
    server.serve(args.socket, args.state_out)
    return 0


if __name__ == "__main__":
    # Through the imported module, so pickled specs resolve to the same classes.
    from tradeloop.venues.simulated.server import main as _main

    raise SystemExit(_main())
