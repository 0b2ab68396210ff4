"""Structured logs: JSON and text lines, the correlation id, per-component levels at runtime."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from tradeloop.core import Event, IdFactory, Lane, MessageBus, SimulatedClock
from tradeloop.observe import (
    bind_correlation,
    configure_logging,
    correlation,
    current_correlation,
    get_logger,
    reset_logging,
    set_levels,
)


class OrderSeen(Event, frozen=True, kw_only=True, gc=False):
    LANE: ClassVar[Lane] = Lane.HIGH


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """A stream for the log lines; the process's logging is restored afterwards."""
    stream = io.StringIO()
    yield stream
    reset_logging()


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_stdlib_and_structlog_lines_are_json_with_the_bound_correlation_id(out: io.StringIO) -> None:
    configure_logging(fmt="json", stream=out)
    with correlation("cycle-17"):
        logging.getLogger("tradeloop.execution").warning("order %s rejected", "O-1")
        get_logger("tradeloop.risk").info("order denied", reason="max_order_quantity", qty=500)
    logging.getLogger("tradeloop.execution").warning("outside any cycle")

    first, second, third = json_lines(out)
    assert first["event"] == "order O-1 rejected"
    assert first["level"] == "warning"
    assert first["logger"] == "tradeloop.execution"
    assert first["correlation_id"] == "cycle-17"
    assert first["timestamp"].endswith("Z")
    assert second == {
        "timestamp": second["timestamp"],
        "level": "info",
        "logger": "tradeloop.risk",
        "correlation_id": "cycle-17",
        "event": "order denied",
        "reason": "max_order_quantity",
        "qty": 500,
    }
    assert "correlation_id" not in third


def test_an_explicit_correlation_id_wins_over_the_bound_one(out: io.StringIO) -> None:
    configure_logging(fmt="json", stream=out)
    with correlation("bound"):
        logging.getLogger("tradeloop.bus").error("failed", extra={"correlation_id": "from-extra"})
        get_logger("tradeloop.bus").error("failed", correlation_id="from-kwarg")
    assert [line["correlation_id"] for line in json_lines(out)] == ["from-extra", "from-kwarg"]


def test_a_failing_bus_handler_is_logged_as_json_with_its_traceback(out: io.StringIO) -> None:
    configure_logging(fmt="json", stream=out)
    bus = MessageBus(SimulatedClock(1_000), IdFactory(3))

    def reject_everything(_: OrderSeen) -> None:
        raise RuntimeError("venue session closed")

    bus.subscribe(OrderSeen, reject_everything)
    with correlation("cycle-9"):
        bus.publish(OrderSeen(id="e-1", correlation_id="cycle-9", ts_event=1, ts_init=1))

    (line,) = json_lines(out)
    assert line["logger"] == "tradeloop.bus"
    assert line["level"] == "error"
    assert line["correlation_id"] == "cycle-9"
    assert "reject_everything" in line["event"]
    assert "RuntimeError: venue session closed" in line["exception"]


def test_per_component_levels_filter_each_subtree(out: io.StringIO) -> None:
    configure_logging(
        fmt="json",
        level="INFO",
        levels={"tradeloop.risk": "DEBUG", "tradeloop.lifecycle": "warning"},
        stream=out,
    )
    logging.getLogger("tradeloop.risk.engine").debug("risk debug")  # child of a DEBUG component
    get_logger("tradeloop.risk").debug("risk structlog debug")
    logging.getLogger("tradeloop.lifecycle.monitor").info("lifecycle info")  # below WARNING
    logging.getLogger("tradeloop.lifecycle").warning("lifecycle warning")
    logging.getLogger("tradeloop.bus").debug("bus debug")  # base level INFO
    get_logger("tradeloop.bus").info("bus info")

    assert [line["event"] for line in json_lines(out)] == [
        "risk debug",
        "risk structlog debug",
        "lifecycle warning",
        "bus info",
    ]


def test_set_levels_changes_levels_at_runtime_and_returns_the_previous_ones(out: io.StringIO) -> None:
    configure_logging(fmt="json", level="INFO", levels={"tradeloop.risk": "DEBUG"}, stream=out)
    risk = logging.getLogger("tradeloop.risk")
    execution = get_logger("tradeloop.execution")

    previous = set_levels({"tradeloop.execution": "ERROR"})
    risk.debug("risk debug after reload")  # tradeloop.risk is back to the base level, INFO
    risk.info("risk info after reload")
    execution.warning("execution warning after reload")
    execution.error("execution error after reload")

    assert previous == {"tradeloop.risk": "DEBUG"}
    assert set_levels(previous) == {"tradeloop.execution": "ERROR"}  # the rollback
    risk.debug("risk debug after rollback")
    execution.warning("execution warning after rollback")

    assert [line["event"] for line in json_lines(out)] == [
        "risk info after reload",
        "execution error after reload",
        "risk debug after rollback",
        "execution warning after rollback",
    ]


def test_set_levels_may_raise_the_base_level_of_all_tradeloop_loggers(out: io.StringIO) -> None:
    configure_logging(fmt="json", level="DEBUG", stream=out)
    set_levels({"tradeloop": "ERROR"})
    logging.getLogger("tradeloop.portfolio").warning("hidden")
    set_levels({})  # back to the configured base level
    logging.getLogger("tradeloop.portfolio").debug("shown")
    assert [line["event"] for line in json_lines(out)] == ["shown"]


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({"tradeloop.risk": "LOUD"}, "unknown log level 'LOUD' for 'tradeloop.risk'"),
        ({"risk": "DEBUG"}, "component 'risk' is not a tradeloop logger name"),
        ({"tradeloop.risk": 10}, "must be a level name"),
    ],
)
def test_an_invalid_levels_mapping_is_rejected_and_changes_nothing(
    out: io.StringIO, levels: dict[str, Any], message: str
) -> None:
    configure_logging(fmt="json", level="INFO", levels={"tradeloop.lifecycle": "ERROR"}, stream=out)
    with pytest.raises(ValueError, match=message):
        set_levels({"tradeloop.lifecycle": "DEBUG", **levels})
    logging.getLogger("tradeloop.lifecycle").warning("still filtered")
    assert out.getvalue() == ""
    assert set_levels({}) == {"tradeloop.lifecycle": "ERROR"}


def test_configure_logging_rejects_a_bad_format_or_level() -> None:
    with pytest.raises(ValueError, match="log format must be 'json' or 'text'"):
        configure_logging(fmt="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown log level 'VERBOSE' for the base level"):
        configure_logging(level="VERBOSE")


def test_text_format_is_one_readable_line_per_event(out: io.StringIO) -> None:
    configure_logging(fmt="text", stream=out)
    with correlation("cycle-3"):
        get_logger("tradeloop.risk").info("order denied", reason="max_order_quantity")
        logging.getLogger("tradeloop.bus").warning("lane %s at capacity", "LOW")

    first, second = out.getvalue().splitlines()
    assert "[info" in first
    assert "order denied" in first
    assert "[tradeloop.risk]" in first
    assert "correlation_id=cycle-3" in first
    assert "reason=max_order_quantity" in first
    assert "[warning" in second
    assert "lane LOW at capacity" in second
    assert "\x1b[" not in out.getvalue()  # no colour codes in a file or a pipe
    assert not first.lstrip().startswith("{")


def test_configuring_twice_writes_each_line_once_to_the_new_stream(out: io.StringIO) -> None:
    old = io.StringIO()
    configure_logging(fmt="text", stream=old)
    configure_logging(fmt="json", stream=out)
    logging.getLogger("tradeloop.store").warning("one line")
    assert old.getvalue() == ""
    assert [line["event"] for line in json_lines(out)] == ["one line"]


def test_reset_logging_hands_tradeloop_records_back_to_the_root_logger(
    out: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging(fmt="json", stream=out)
    reset_logging()
    with caplog.at_level(logging.WARNING, logger="tradeloop.bus"):
        logging.getLogger("tradeloop.bus").warning("seen by the root handlers")
    assert "seen by the root handlers" in caplog.text
    assert out.getvalue() == ""


def test_correlation_blocks_nest_and_restore_the_outer_id() -> None:
    assert current_correlation() is None
    with correlation("outer"):
        with correlation("inner"):
            assert current_correlation() == "inner"
        assert current_correlation() == "outer"
    assert current_correlation() is None


def test_a_bound_correlation_id_follows_tasks_started_in_its_context() -> None:
    async def main() -> tuple[str | None, str | None]:
        async def child() -> str | None:
            return current_correlation()

        token = bind_correlation("saga-4")
        try:
            inside = await asyncio.create_task(child())
        finally:
            token.var.reset(token)
        outside = await asyncio.create_task(child())
        return inside, outside

    assert asyncio.run(main()) == ("saga-4", None)


def test_only_strings_bind_as_correlation_ids() -> None:
    with pytest.raises(TypeError, match="correlation_id must be a str or None, got int"):
        bind_correlation(42)  # type: ignore[arg-type]


def test_get_logger_refuses_names_outside_the_tradeloop_namespace() -> None:
    with pytest.raises(ValueError, match=r"'aiohttp\.access' is not a tradeloop logger name"):
        get_logger("aiohttp.access")
