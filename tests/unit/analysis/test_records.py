"""Records refuse values that would corrupt statistics, naming the record and field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tradeloop.analysis import EquityPoint, RunInfo, TradeRecord
from tradeloop.core.errors import DataError


def trade_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "position_id": "P-1",
        "instrument_id": "AAPL.XNAS",
        "strategy_id": "S-1",
        "side": "LONG",
        "quantity": Decimal("1"),
        "entry_ts_ns": 10,
        "exit_ts_ns": 20,
        "avg_entry_px": Decimal("1.5"),
        "avg_exit_px": Decimal("1.6"),
        "realized_pnl": Decimal("0.1"),
        "commissions": Decimal("0"),
        "currency": "USD",
    }
    fields.update(overrides)
    return fields


def run_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "run_id": "r1",
        "strategy": "ema",
        "instruments": ["AAPL.XNAS"],
        "start_ns": 0,
        "end_ns": 10,
        "starting_balance": Decimal("100"),
        "currency": "USD",
        "config_summary": {},
        "event_log_hash": None,
        "messages": {"Bar": 3},
        "wall_seconds": 0.5,
    }
    fields.update(overrides)
    return fields


def test_valid_trade_record_builds() -> None:
    assert TradeRecord(**trade_fields()).side == "LONG"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"side": "FLAT"}, "side must be LONG or SHORT"),
        ({"quantity": Decimal("0")}, "quantity must be positive"),
        ({"quantity": Decimal("-1")}, "quantity must be positive"),
        ({"realized_pnl": Decimal("NaN")}, "realized_pnl must be finite"),
        ({"avg_exit_px": 1.6}, "avg_exit_px must be a Decimal"),
        ({"exit_ts_ns": 5}, "exit_ts_ns 5 is before entry_ts_ns 10"),
        ({"entry_ts_ns": 1.0}, "entry_ts_ns must be an int"),
        ({"currency": ""}, "currency must be a non-empty printable string"),
        ({"strategy_id": "alpha\rbeta"}, "strategy_id must be a non-empty printable string"),
        ({"currency": "USD\r"}, "currency must be a non-empty printable string"),
    ],
)
def test_trade_record_rejects_bad_field_naming_position_and_field(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(DataError, match=message) as info:
        TradeRecord(**trade_fields(**overrides))
    assert "'P-1'" in str(info.value)


def test_equity_point_rejects_infinite_equity_naming_its_timestamp() -> None:
    with pytest.raises(DataError, match="ts_ns=7 must be finite"):
        EquityPoint(7, Decimal("Infinity"))


def test_equity_point_rejects_a_float_timestamp() -> None:
    with pytest.raises(DataError, match="ts_ns must be an int"):
        EquityPoint(7.0, Decimal(1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"end_ns": -1}, "end_ns -1 is before start_ns 0"),
        ({"starting_balance": Decimal("sNaN")}, "starting_balance must be finite"),
        ({"messages": {"Bar": -1}}, r"messages\['Bar'\]"),
        ({"wall_seconds": float("nan")}, "wall_seconds"),
        ({"currency": ""}, "currency must be non-empty"),
    ],
)
def test_run_info_rejects_bad_field(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        RunInfo(**run_fields(**overrides))
