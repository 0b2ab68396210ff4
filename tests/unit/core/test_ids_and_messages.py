"""Identifiers, the message base and its type registry, and the exception tree."""

from __future__ import annotations

import uuid
from typing import ClassVar

import msgspec
import pytest

from tradeloop.core import (
    BackPressureError,
    Command,
    ConfigError,
    Data,
    DataError,
    Event,
    HandlerFailed,
    IdFactory,
    InvalidOrderTransition,
    InvalidStateTransition,
    Lane,
    Message,
    TradeloopError,
    ValueRangeError,
    VenueError,
    instrument_id,
    message_type,
    message_types,
    register_alias,
    split_instrument_id,
)


@pytest.mark.parametrize("text", ["ESZ4.CME", "BTCUSDT.BINANCE", "BRK.B.XNYS", "FEDCUT-25DEC.KALSHI"])
def test_instrument_id_accepts_symbol_dot_venue(text: str) -> None:
    assert instrument_id(text) == text


@pytest.mark.parametrize("text", ["", "ESZ4", ".CME", "ESZ4.", "ES Z4.CME", "ESZ4.CME\n"])
def test_instrument_id_rejects_malformed_values_naming_them(text: str) -> None:
    with pytest.raises(ValueRangeError, match="invalid instrument id"):
        instrument_id(text)


def test_split_instrument_id_splits_at_the_last_dot() -> None:
    assert split_instrument_id(instrument_id("BRK.B.XNYS")) == ("BRK.B", "XNYS")


def test_seeded_id_factories_mint_the_same_increasing_uuid8_sequence() -> None:
    a, b = IdFactory(123), IdFactory(123)
    first = [a.new_id() for _ in range(5)]
    assert first == [b.new_id() for _ in range(5)]
    assert len(set(first)) == 5
    assert first == sorted(first)  # indexes keyed on ids grow at one end
    for text in first:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
        assert str(parsed) == text
    other = IdFactory(124).new_id()
    assert other != first[0]
    assert other[:19] != first[0][:19]  # another factory, another prefix


def test_ids_keep_their_order_past_every_hex_digit_boundary() -> None:
    ids = IdFactory(7)
    minted = [ids.new_id() for _ in range(70_000)]
    assert minted == sorted(minted)
    assert len(set(minted)) == len(minted)


def test_unseeded_id_factory_mints_distinct_ids() -> None:
    ids = IdFactory()
    assert len({ids.new_id() for _ in range(100)}) == 100


class Pinged(Event, frozen=True, kw_only=True, gc=False):
    value: int = 0


class RenamedThing(Event, frozen=True, kw_only=True, gc=False):
    TYPE_NAME: ClassVar[str] = "StableThingName"


class Nudge(Command, frozen=True, kw_only=True, gc=False):
    pass


class Sample(Data, frozen=True, kw_only=True, gc=False):
    level: int


def test_message_kinds_ride_their_documented_lanes() -> None:
    assert Message.LANE is Lane.HIGH
    assert Event.LANE is Lane.HIGH
    assert Command.LANE is Lane.HIGH
    assert Data.LANE is Lane.NORMAL
    assert list(Lane) == [Lane.CRITICAL, Lane.HIGH, Lane.NORMAL, Lane.LOW]


def test_messages_are_immutable() -> None:
    msg = Pinged(ts_event=1, ts_init=2, id="a", correlation_id="c")
    with pytest.raises(AttributeError):
        msg.value = 3  # type: ignore[misc]


def test_events_and_commands_carry_ids_and_default_to_no_causation() -> None:
    ev = Pinged(ts_event=1, ts_init=2, id="a", correlation_id="c")
    cmd = Nudge(ts_event=1, ts_init=2, id="b", correlation_id="c", causation_id="a")
    assert (ev.id, ev.correlation_id, ev.causation_id) == ("a", "c", None)
    assert cmd.causation_id == "a"


def test_messages_round_trip_through_msgspec() -> None:
    ev = Pinged(ts_event=1, ts_init=2, id="a", correlation_id="c", value=9)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(ev), type=Pinged) == ev


def test_registry_names_classes_by_class_name_or_type_name() -> None:
    assert message_type("Pinged") is Pinged
    assert message_type("StableThingName") is RenamedThing
    assert RenamedThing.TYPE_NAME == "StableThingName"
    assert message_type("HandlerFailed") is HandlerFailed
    assert "Pinged" in message_types()
    with pytest.raises(KeyError):
        message_type("NoSuchMessage")


def test_registry_copy_cannot_change_the_registry() -> None:
    copy = message_types()
    copy.pop("Pinged")
    assert message_type("Pinged") is Pinged


def test_alias_keeps_an_old_name_decodable_and_refuses_a_taken_name() -> None:
    register_alias("PingedV0", Pinged)
    register_alias("PingedV0", Pinged)  # idempotent for the same class
    assert message_type("PingedV0") is Pinged
    with pytest.raises(TypeError, match="already registered"):
        register_alias("Pinged", RenamedThing)


def test_a_second_class_under_a_taken_name_is_refused() -> None:
    with pytest.raises(TypeError, match="already registered"):

        class Impostor(Event, frozen=True, kw_only=True, gc=False):
            TYPE_NAME: ClassVar[str] = "Pinged"


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (ValueRangeError, (TradeloopError, ValueError)),
        (ConfigError, (TradeloopError, ValueError)),
        (DataError, (TradeloopError, ValueError)),
        (InvalidStateTransition, (TradeloopError,)),
        (InvalidOrderTransition, (TradeloopError,)),
        (BackPressureError, (TradeloopError,)),
        (VenueError, (TradeloopError,)),
    ],
)
def test_every_engine_error_derives_from_tradeloop_error(
    error: type[Exception], bases: tuple[type[Exception], ...]
) -> None:
    for base in bases:
        assert issubclass(error, base)


def test_ids_stay_ordered_and_well_formed_past_the_48_bit_count() -> None:
    ids = IdFactory(7)
    ids._count = (1 << 48) - 2  # white box: 2**48 ids cannot be minted in a test
    crossing = [ids.new_id() for _ in range(3)]
    assert crossing == sorted(crossing)
    assert [t[19:23] for t in crossing] == ["8000", "8001", "8001"]
    assert all(uuid.UUID(t).version == 8 and str(uuid.UUID(t)) == t for t in crossing)
