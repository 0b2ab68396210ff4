"""Structured logs: one renderer for structlog and for the stdlib loggers of tradeloop.

:func:`configure_logging` sets up structlog on top of the stdlib ``logging`` module and puts a
single handler on the ``tradeloop`` logger, so a record logged through
``logging.getLogger("tradeloop.bus")`` and an event logged through
:func:`get_logger` come out the same way: one JSON object per line (``fmt="json"``) or one
readable line (``fmt="text"``), each with ``timestamp`` (UTC, ISO 8601), ``level``,
``logger``, ``event`` and, when one is bound, ``correlation_id``.

Levels are the stdlib levels of the loggers themselves: the base level sits on ``tradeloop``
and a per-component level on ``tradeloop.<component>`` (``tradeloop.risk`` covers
``tradeloop.risk.engine`` too). :func:`set_levels` replaces the per-component levels while the
node runs (a config hot reload) and returns the previous ones, so a rollback is
``set_levels(previous)``. Level names are validated before anything changes: a bad mapping
changes nothing.

The correlation id lives in a context variable (:func:`bind_correlation`,
:func:`correlation`), so it follows the code that runs for one trading cycle, including asyncio
tasks started inside it, without being passed to every log call. With none bound, a line
written by a bus handler carries the correlation id of the message it handles
(:func:`tradeloop.core.bus.dispatching_message`). A ``correlation_id`` given explicitly to a
log call (as a structlog key or a stdlib ``extra``) wins over both.

Log timestamps are wall-clock time, deliberately: they say when a line was written, for
operators; the trading time of a message is in the message.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

import structlog

from tradeloop.core.bus import dispatching_message

__all__ = [
    "LogFormat",
    "bind_correlation",
    "configure_logging",
    "correlation",
    "current_correlation",
    "get_logger",
    "reset_logging",
    "set_levels",
]

LogFormat = Literal["json", "text"]
"""``json``: one JSON object per line (for collectors); ``text``: aligned, readable lines."""

ROOT = "tradeloop"
"""The logger every tradeloop logger descends from; the one the handler sits on."""

_FIRST_KEYS = ("timestamp", "level", "logger", "correlation_id", "event")
"""JSON keys in this order first, so a line reads left to right like the text format."""

_CORRELATION: ContextVar[str | None] = ContextVar("tradeloop_correlation_id", default=None)


@dataclass
class _State:
    handler: logging.Handler | None = None
    base_level: int = logging.NOTSET
    levels: dict[str, int] = field(default_factory=dict)


_state = _State()


# -- correlation ---------------------------------------------------------------------------


def bind_correlation(correlation_id: str | None) -> Token[str | None]:
    """Bind ``correlation_id`` to the current context (``None`` unbinds it).

    Every line logged afterwards in this context (thread or asyncio task, and tasks created
    from it) carries it, until it is bound again or reset.

    Returns
    -------
    contextvars.Token
        Pass to ``Token.var.reset(token)`` to restore the previous binding; the
        :func:`correlation` context manager does that for you.

    Raises
    ------
    TypeError
        If ``correlation_id`` is neither a string nor ``None``.
    """
    if correlation_id is not None and not isinstance(correlation_id, str):
        raise TypeError(f"correlation_id must be a str or None, got {type(correlation_id).__name__}")
    return _CORRELATION.set(correlation_id)


@contextmanager
def correlation(correlation_id: str | None) -> Iterator[None]:
    """Bind ``correlation_id`` for the ``with`` block, then restore the previous binding."""
    token = bind_correlation(correlation_id)
    try:
        yield
    finally:
        _CORRELATION.reset(token)


def current_correlation() -> str | None:
    """The correlation id bound to the current context, if any."""
    return _CORRELATION.get()


def _add_correlation(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if "correlation_id" not in event_dict:
        bound = _CORRELATION.get()
        if bound is None:
            # A line a bus handler writes belongs to the message it handles: its trading
            # cycle's id, without binding one per message on the hot path.
            bound = getattr(dispatching_message(), "correlation_id", None)
        if bound is not None:
            event_dict["correlation_id"] = bound
    return event_dict


def _order_keys(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    first = {key: event_dict.pop(key) for key in _FIRST_KEYS if key in event_dict}
    return {**first, **event_dict}


# -- levels --------------------------------------------------------------------------------


def _level(value: object, what: str) -> int:
    if not isinstance(value, str):
        raise ValueError(f"log level of {what} must be a level name, got {value!r}")
    number = logging.getLevelNamesMapping().get(value.strip().upper())
    if number is None:
        raise ValueError(
            f"unknown log level {value!r} for {what}; use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    return number


def _component(name: object) -> str:
    if not isinstance(name, str) or not (name == ROOT or name.startswith(ROOT + ".")) or name.endswith("."):
        raise ValueError(
            f"log level component {name!r} is not a tradeloop logger name "
            f"(expected {ROOT!r} or {ROOT + '.<component>'!r}, e.g. 'tradeloop.risk')"
        )
    return name


def _parse_levels(levels: Mapping[str, str] | None) -> dict[str, int]:
    if levels is None:
        return {}
    if not isinstance(levels, Mapping):
        raise TypeError(f"levels must be a mapping of logger name to level, got {type(levels).__name__}")
    return {_component(name): _level(value, repr(name)) for name, value in levels.items()}


def _apply_levels(levels: dict[str, int]) -> None:
    for name in _state.levels.keys() - levels.keys():
        logging.getLogger(name).setLevel(_state.base_level if name == ROOT else logging.NOTSET)
    logging.getLogger(ROOT).setLevel(levels.get(ROOT, _state.base_level))
    for name, number in levels.items():
        logging.getLogger(name).setLevel(number)
    _state.levels = levels


def set_levels(levels: Mapping[str, str]) -> dict[str, str]:
    """Replace the per-component log levels now; return the previous mapping.

    Components left out of ``levels`` go back to inheriting (from ``tradeloop``, whose level
    is the base level unless ``levels`` names ``tradeloop`` itself). The mapping is validated
    in full before any level changes.

    Parameters
    ----------
    levels:
        Logger name (``tradeloop`` or ``tradeloop.<component>...``) to level name
        (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``; any case).

    Returns
    -------
    dict[str, str]
        The per-component levels that were in force, as level names.

    Raises
    ------
    ValueError
        Naming the component or the level that is not valid.
    """
    parsed = _parse_levels(levels)
    previous = {name: logging.getLevelName(number) for name, number in _state.levels.items()}
    _apply_levels(parsed)
    return previous


# -- configuration -------------------------------------------------------------------------


def configure_logging(
    *,
    fmt: LogFormat = "text",
    level: str = "INFO",
    levels: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Route structlog and the stdlib ``tradeloop`` loggers to one structured handler.

    Calling it again replaces the previous configuration (one handler, never two), so a node
    can reconfigure on reload. Records of ``tradeloop`` loggers stop propagating to the root
    logger while configured, so an application that also configures the root logger does not
    print each line twice.

    Parameters
    ----------
    fmt:
        ``"json"`` (one object per line) or ``"text"`` (readable, no colours).
    level:
        Base level of every ``tradeloop`` logger.
    levels:
        Per-component levels, as for :func:`set_levels`.
    stream:
        Where lines go (default: ``sys.stderr`` at call time).

    Raises
    ------
    ValueError
        If ``fmt``, ``level`` or an entry of ``levels`` is not valid (nothing is changed).
    """
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be 'json' or 'text', got {fmt!r}")
    base = _level(level, "the base level")
    parsed = _parse_levels(levels)

    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_correlation,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    renderer: list[Any]
    if fmt == "json":
        renderer = [structlog.processors.format_exc_info, _order_keys, structlog.processors.JSONRenderer()]
    else:
        renderer = [
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
        ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger bound before a reconfiguration must follow the new one.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger(ROOT)
    if _state.handler is not None:
        root.removeHandler(_state.handler)
        _state.handler.close()  # a StreamHandler leaves its stream open
    root.addHandler(handler)
    root.propagate = False
    _state.handler = handler
    _state.base_level = base
    _apply_levels(parsed)


def reset_logging() -> None:
    """Undo :func:`configure_logging`: remove the handler, clear the levels, restore defaults.

    For shutdown and for tests that must leave the process's logging as they found it.
    """
    root = logging.getLogger(ROOT)
    if _state.handler is not None:
        root.removeHandler(_state.handler)
        _state.handler.close()
    _state.base_level = logging.NOTSET
    _apply_levels({})
    _state.handler = None
    root.propagate = True
    structlog.reset_defaults()


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger for ``name`` (``tradeloop`` or ``tradeloop.<component>...``).

    Key-value pairs go as keyword arguments (``log.info("order denied", reason=...)``); the
    logger honours the stdlib level of ``name``.

    Raises
    ------
    ValueError
        If ``name`` is outside the ``tradeloop`` namespace (its lines would not be routed).
    """
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(_component(name))
    return logger
