"""The venue's configuration validates itself and names the offending key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.model import Money
from tradeloop.venues.simulated import (
    AccountType,
    FaultConfig,
    FeeModel,
    FillModel,
    LatencyModel,
    SimulatedVenueConfig,
)

USD = Money.from_str("1000", "USD")


def test_defaults_are_a_cash_account_with_no_latency_and_no_faults():
    config = SimulatedVenueConfig(starting_balances=USD)
    assert config.account_type is AccountType.CASH
    assert config.latency_model.is_zero
    assert config.fill_model.max_volume_participation is None
    assert config.bar_execution


def test_account_type_accepts_its_name():
    assert (
        SimulatedVenueConfig(starting_balances=USD, account_type="MARGIN").account_type is AccountType.MARGIN
    )


@pytest.mark.parametrize(
    ("build", "key"),
    [
        (lambda: SimulatedVenueConfig(starting_balances=USD, account_type="SPOT"), "account_type"),
        (lambda: SimulatedVenueConfig(starting_balances=USD, leverage=Decimal("0.5")), "leverage"),
        (lambda: SimulatedVenueConfig(starting_balances=Money.from_str("-1", "USD")), "starting_balances"),
        (lambda: SimulatedVenueConfig(starting_balances=USD, account_id="a b"), "account_id"),
        (lambda: FillModel(max_volume_participation=Decimal(0)), "fill_model.max_volume_participation"),
        (lambda: FillModel(max_volume_participation=Decimal("1.5")), "fill_model.max_volume_participation"),
        (lambda: FillModel(max_volume_participation=0.5), "fill_model.max_volume_participation"),
        (lambda: FillModel(slippage_ticks=-1), "fill_model.slippage_ticks"),
        (lambda: FeeModel(taker_fee=Decimal(1)), "fee_model.taker_fee"),
        (lambda: FeeModel(maker_fee=Decimal("0.0000000001")), "fee_model.maker_fee"),
        (lambda: LatencyModel(base_ns=-5), "latency_model.base_ns"),
        (lambda: LatencyModel(jitter_ns=1.5), "latency_model.jitter_ns"),
        (lambda: FaultConfig(reject_probability=1.5), "faults.reject_probability"),
        (lambda: FaultConfig(max_fill_fraction=Decimal(2)), "faults.max_fill_fraction"),
    ],
)
def test_invalid_settings_raise_config_error_naming_the_key(build, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build()


def test_decimal_strings_are_accepted_for_rates():
    assert FillModel(max_volume_participation="0.25").max_volume_participation == Decimal("0.25")
    assert FeeModel(taker_fee="0.001").taker_fee == Decimal("0.001")
