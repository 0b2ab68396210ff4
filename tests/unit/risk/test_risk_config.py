"""RiskConfig: every limit optional, validated, frozen, and readable from YAML-like data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tradeloop.risk import RiskConfig, RiskLimits


def test_default_config_turns_every_limit_off() -> None:
    config = RiskConfig()

    limits = config.model_dump(exclude={"bypass", "rate_interval_seconds", "breakers"})
    assert all(value in (None, {}) for value in limits.values())
    assert config.bypass is False
    assert config.rate_interval_ns == 1_000_000_000
    # The breakers only act on errors and breaches; the daily loss keeps its old behaviour.
    assert config.breakers.daily_loss_flatten is False


def test_config_accepts_strings_and_ints_as_exact_decimals() -> None:
    config = RiskConfig.model_validate(
        {
            "max_order_quantity": "0.5",
            "max_order_quantity_by_instrument": {"ESZ4.CME": 5},
            "max_daily_loss": 1000,
            "price_band_pct": "2.5",
            "rate_interval_seconds": "0.25",
        }
    )

    assert config.max_order_quantity == Decimal("0.5")
    assert config.max_order_quantity_by_instrument == {"ESZ4.CME": Decimal(5)}
    assert config.max_daily_loss == Decimal(1000)
    assert config.price_band_pct == Decimal("2.5")
    assert config.rate_interval_ns == 250_000_000


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"max_order_quantity": 0}, "max_order_quantity", "greater than 0"),
        ({"max_order_notional": -1}, "max_order_notional", "greater than 0"),
        ({"max_daily_loss": "nan"}, "max_daily_loss", "finite number"),
        ({"max_gross_exposure": "0.0000000001"}, "max_gross_exposure", "more than 9 decimal places"),
        ({"max_open_orders": 0}, "max_open_orders", "greater than 0"),
        ({"max_order_rate": 2.5}, "max_order_rate", "fractional part"),
        ({"rate_interval_seconds": 0}, "rate_interval_seconds", "greater than 0"),
        ({"max_position_quantity_by_instrument": {"AAPL": 1}}, "max_position_quantity_by_instrument", "AAPL"),
        (
            {"max_order_quantity_by_instrument": {"AAPL.XNAS": 0}},
            "max_order_quantity_by_instrument",
            "greater",
        ),
        ({"max_order_qty": 1}, "max_order_qty", "Extra inputs are not permitted"),
    ],
)
def test_invalid_limits_are_rejected_naming_the_key(data: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        RiskConfig.model_validate(data)

    [error] = info.value.errors()
    assert error["loc"][0] == field
    assert message in str(info.value)


def test_config_is_frozen() -> None:
    config = RiskConfig(max_order_quantity=10)

    with pytest.raises(ValidationError, match="frozen"):
        config.max_order_quantity = Decimal(20)  # type: ignore[misc]


def test_config_round_trips_through_json() -> None:
    config = RiskConfig(max_order_notional="12500.50", max_open_orders=3, max_order_rate=10, bypass=True)

    assert RiskConfig.model_validate_json(config.model_dump_json()) == config


def test_limits_compile_decimals_to_exact_raws() -> None:
    limits = RiskLimits(
        RiskConfig(
            max_order_notional="12500.50",
            max_order_quantity_by_instrument={"BTCUSDT.BINANCE": "0.000001"},
            price_band_pct="2.5",
        )
    )

    assert limits.order_notional == 12_500_500_000_000
    assert limits.order_qty_by == {"BTCUSDT.BINANCE": 1_000}
    assert limits.band_pct == 2_500_000_000
    assert (limits.order_qty, limits.daily_loss, limits.needs_value) == (None, None, True)
