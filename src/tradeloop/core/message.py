"""The message base: immutable, typed, timestamped.

Three kinds ride the bus (STYLE.md #3):

* :class:`Command` - a request, imperative (``SubmitOrder``).
* :class:`Event` - a fact, past tense (``OrderFilled``).
* :class:`Data` - market data nouns (``QuoteTick``, ``Bar``).

All are ``msgspec`` structs: frozen, cheap to build, and encoded without per-type code.
Commands and events carry ``id``, ``correlation_id`` (one per trading cycle or saga) and
``causation_id`` (the message that caused it). Market data carries only its timestamps: it
is identified by instrument and time, and minting ids for millions of ticks that nobody reads
would cost a fifth of the per-bar budget (see ARCHITECTURE.md).

Every concrete message class is registered under a stable name (its class name unless it sets
``TYPE_NAME``). :func:`register_alias` keeps old names decodable after a rename.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar

import msgspec

__all__ = [
    "Command",
    "Data",
    "Event",
    "HandlerFailed",
    "Lane",
    "Message",
    "message_type",
    "message_types",
    "register_alias",
]


class Lane(IntEnum):
    """Bus lanes, drained highest first (lowest value first)."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


_REGISTRY: dict[str, type[Message]] = {}


class Message(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Base of everything on the bus. ``ts_event``: when it happened; ``ts_init``: when built."""

    LANE: ClassVar[Lane] = Lane.HIGH
    TYPE_NAME: ClassVar[str] = ""

    ts_event: int
    ts_init: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("TYPE_NAME") or cls.__name__
        cls.TYPE_NAME = name
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise TypeError(f"message type name {name!r} is already registered by {existing!r}")
        _REGISTRY[name] = cls


class Data(Message, frozen=True, kw_only=True, gc=False, array_like=True):
    """Market data. Rides the NORMAL lane, where overload conflates per instrument.

    Encoded as a msgpack array (fields in order) rather than a map: market data are most of an
    event log, and arrays are smaller and faster to write. A field added later must go last,
    with a default, so older logs stay readable.
    """

    LANE: ClassVar[Lane] = Lane.NORMAL


class Event(Message, frozen=True, kw_only=True, gc=False):
    """A fact that happened."""

    id: str
    correlation_id: str
    causation_id: str | None = None


class Command(Message, frozen=True, kw_only=True, gc=False):
    """A request for something to happen."""

    id: str
    correlation_id: str
    causation_id: str | None = None


class HandlerFailed(Event, frozen=True, kw_only=True, gc=False):
    """A bus handler raised while handling a message; the other handlers still ran."""

    handler: str
    message_type: str
    error: str


def message_type(name: str) -> type[Message]:
    """Return the message class registered under ``name`` (or a registered alias).

    Raises
    ------
    KeyError
        If no message type has that name.
    """
    return _REGISTRY[name]


def message_types() -> dict[str, type[Message]]:
    """A copy of the registry: stable name to class (aliases included)."""
    return dict(_REGISTRY)


def register_alias(old_name: str, cls: type[Message]) -> None:
    """Keep records stored under ``old_name`` decodable as ``cls`` after a rename."""
    current = _REGISTRY.get(old_name)
    if current is not None and current is not cls:
        raise TypeError(f"message type name {old_name!r} is already registered by {current!r}")
    _REGISTRY[old_name] = cls
