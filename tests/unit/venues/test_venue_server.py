"""The venue server's lock-step protocol, driven in-process (no socket)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.core.ids import ClientOrderId, InstrumentId, StrategyId
from tradeloop.data.synthetic import generate_bars
from tradeloop.model.commands import OrderSpec, SubmitOrder
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.events import OrderAccepted
from tradeloop.model.instruments import Equity
from tradeloop.model.objects import Money
from tradeloop.venues.simulated.config import SimulatedVenueConfig
from tradeloop.venues.simulated.server import (
    Answer,
    Cmd,
    End,
    Item,
    ProtocolError,
    VenueServer,
    VenueSession,
    decode_frame,
    encode_frame,
    pack,
    unpack,
)

INSTRUMENT = Equity("ABC.SIM")


def _server(bars: int = 5) -> VenueServer:
    data = tuple(generate_bars(INSTRUMENT, bars, seed=3))
    config = SimulatedVenueConfig(starting_balances=Money.from_str("100000", "USD"))
    return VenueServer(VenueSession("SIM", (INSTRUMENT,), config, data))


def _submit(command_id: str, client_order_id: str = "O-S-1") -> SubmitOrder:
    spec = OrderSpec(
        client_order_id=ClientOrderId(client_order_id),
        strategy_id=StrategyId("S"),
        instrument_id=InstrumentId(str(INSTRUMENT.id)),
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        quantity=INSTRUMENT.make_qty(Decimal(10)),
    )
    return SubmitOrder(
        id=command_id,
        correlation_id=command_id,
        ts_event=0,
        ts_init=0,
        strategy_id=spec.strategy_id,
        instrument_id=spec.instrument_id,
        order=spec,
    )


def test_frames_round_trip_with_bus_messages_inside() -> None:
    frame = Cmd(pack(_submit("c-1")))
    decoded = decode_frame(encode_frame(frame))
    assert decoded == frame
    assert isinstance(decoded, Cmd)
    assert unpack(decoded.command) == _submit("c-1")


def test_garbage_frame_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="undecodable"):
        decode_frame(b"\x93\x01\x02")


def test_items_come_one_per_ack_and_end_after_the_last() -> None:
    server = _server(3)
    frames = [server.on_ack(i) for i in (-1, 0, 1)]
    assert [f.index for f in frames if isinstance(f, Item)] == [0, 1, 2]
    assert isinstance(server.on_ack(2), End)
    assert server.acked == 2


def test_ack_for_an_item_never_sent_is_refused() -> None:
    server = _server()
    server.on_ack(-1)
    with pytest.raises(ProtocolError, match="only items up to 0 were sent"):
        server.on_ack(3)


def test_an_item_the_node_lost_is_sent_again_unchanged() -> None:
    server = _server()
    first = server.on_ack(-1)
    server.on_ack(0)
    again = server.on_ack(-1)  # a node whose store lost item 0
    assert again == first
    assert server.resent_items == 1


def test_a_repeated_command_is_answered_as_before_and_not_executed_again() -> None:
    server = _server()
    server.on_ack(-1)
    answer = server.on_command(pack(_submit("c-1")))
    assert isinstance(answer, Answer)
    assert [type(unpack(e)) for e in answer.events] == [OrderAccepted]
    assert server.on_command(pack(_submit("c-1"))) == answer
    assert server.executed_commands == 1
    assert server.resent_commands == 1
    assert len(server.state().orders) == 1


def test_a_new_command_for_a_known_client_order_id_is_refused_as_a_duplicate() -> None:
    server = _server()
    server.on_ack(-1)
    server.on_command(pack(_submit("c-1")))
    answer = server.on_command(pack(_submit("c-2")))
    assert answer.events == []
    assert server.duplicate_submits == 1
    assert server.executed_commands == 1


def test_market_order_fills_with_the_next_item_and_the_state_shows_it() -> None:
    server = _server()
    server.on_ack(-1)
    server.on_command(pack(_submit("c-1")))
    item = server.on_ack(0)
    assert isinstance(item, Item)
    assert [e.type_name for e in item.events] == ["OrderFilled"]
    state = server.state()
    assert [f.client_order_id for f in state.fills] == ["O-S-1"]
    assert state.positions[str(INSTRUMENT.id)] == INSTRUMENT.make_qty(Decimal(10)).raw
    assert state.open_orders == []
    assert (state.sent, state.acked) == (1, 0)


def test_only_commands_are_accepted_as_commands() -> None:
    server = _server()
    bar = server.session.data[0]
    with pytest.raises(ProtocolError, match="not a command"):
        server.on_command(pack(bar))
