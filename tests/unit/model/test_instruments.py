"""Instruments: grids, precision limits, fee rates, price bands and exact notionals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.core import ValueRangeError
from tradeloop.model import (
    AssetClass,
    BinaryEventContract,
    CryptoSpot,
    Equity,
    FuturesContract,
    FxPair,
    Instrument,
    Price,
    Quantity,
)
from tradeloop.testkit import aapl_equity, btcusdt, es_future, eurusd, event_contract


def test_factories_set_grids_currency_and_asset_class() -> None:
    es, btc, aapl, fx, ev = es_future(), btcusdt(), aapl_equity(), eurusd(), event_contract()
    assert (es.asset_class, es.multiplier, str(es.price_increment), es.quote_currency) == (
        AssetClass.FUTURE,
        50,
        "0.25",
        "USD",
    )
    assert (btc.price_precision, btc.size_precision, btc.quote_currency) == (2, 6, "USDT")
    assert btc.taker_fee == Decimal("0.001")
    assert btc.taker_fee_raw == 1_000_000
    assert (aapl.symbol, aapl.venue) == ("AAPL", "XNAS")
    assert (fx.price_precision, str(fx.size_increment)) == (5, "1000")
    assert (str(ev.min_price), str(ev.max_price)) == ("0.01", "0.99")


def test_make_price_and_qty_accept_values_on_the_grid() -> None:
    es = es_future()
    assert es.make_price("4500.75") == Price.from_str("4500.75")
    assert es.make_price(4500) == Price(4_500_000_000_000, 2)
    assert es.make_qty(3) == Quantity.from_int(3)


def test_make_price_off_the_tick_grid_raises_naming_the_instrument() -> None:
    with pytest.raises(ValueRangeError, match=r"ESZ4\.CME: price 4500.10 is not a multiple of 0.25"):
        es_future().make_price("4500.10")


def test_make_price_finer_than_the_precision_raises() -> None:
    with pytest.raises(ValueRangeError, match="more than 2 decimal places"):
        es_future().make_price("4500.125")


def test_make_qty_off_the_lot_grid_raises() -> None:
    with pytest.raises(ValueRangeError, match=r"EURUSD\.SIM"):
        eurusd().make_qty(1500)
    with pytest.raises(ValueRangeError):
        btcusdt().make_qty("0.0000001")


def test_price_problem_reports_grid_and_band_violations() -> None:
    ev = event_contract()
    assert ev.price_problem(ev.make_price("0.50")) is None
    assert "tick size" in (ev.price_problem(Price.from_str("0.505")) or "")
    assert "below the minimum" in (ev.price_problem(Price.from_str("0.00")) or "")
    assert "above the maximum" in (ev.price_problem(Price.from_str("1.00")) or "")


def test_quantity_problem_reports_zero_lot_and_minimum_violations() -> None:
    inst = Instrument(
        id=es_future().id,
        asset_class=AssetClass.FUTURE,
        price_increment=Price.from_str("0.25"),
        size_increment=Quantity.from_str("1"),
        quote_currency="USD",
        min_quantity=Quantity.from_int(2),
    )
    assert inst.quantity_problem(Quantity.from_int(2)) is None
    assert "positive" in (inst.quantity_problem(Quantity.from_int(0)) or "")
    assert "lot size" in (inst.quantity_problem(Quantity.from_str("2.5")) or "")
    assert "below the minimum" in (inst.quantity_problem(Quantity.from_int(1)) or "")


def test_notional_is_exact_including_the_multiplier() -> None:
    es, btc, fx = es_future(), btcusdt(), eurusd()
    assert es.notional_raw(es.make_price("4500.25").raw, es.make_qty(3).raw) == 675_037_500_000_000
    # 0.000001 BTC at 30000.01 USDT = 0.03000001 USDT, exactly
    assert btc.notional_raw(btc.make_price("30000.01").raw, btc.make_qty("0.000001").raw) == 30_000_010
    assert fx.notional_raw(fx.make_price("1.08001").raw, fx.make_qty(1000).raw) == 1_080_010_000_000


def test_rounding_helpers_snap_onto_the_grid() -> None:
    es = es_future()
    raw = Price.from_str("4500.10").raw
    assert es.round_price_raw(raw, up=True) == Price.from_str("4500.25").raw
    assert es.round_price_raw(raw, up=False) == Price.from_str("4500.00").raw
    assert es.round_price_raw(-raw, up=True) == Price.from_str("-4500.00").raw
    assert btcusdt().round_qty_raw_down(Quantity.from_str("0.0000019").raw) == 1_000
    assert es.price_from_raw(raw).precision == 2
    assert es.qty_from_raw(2_000_000_000) == Quantity.from_int(2)


def test_price_and_size_precision_beyond_nine_decimals_together_is_refused() -> None:
    with pytest.raises(ValueRangeError, match="exceeds 9"):
        CryptoSpot("SHIBUSDT.BINANCE", tick="0.00000001", lot="0.01")


@pytest.mark.parametrize("fee", ["1", "-1", "1.5", "0.0000000001"])
def test_fee_rate_must_be_a_fraction_with_at_most_nine_decimals(fee: str) -> None:
    with pytest.raises(ValueRangeError, match="taker_fee"):
        Equity("AAPL.XNAS", taker_fee=fee)


def test_negative_fee_rate_is_a_rebate() -> None:
    inst = Equity("AAPL.XNAS", maker_fee="-0.0001")
    assert inst.maker_fee_raw == -100_000


@pytest.mark.parametrize(
    "build",
    [
        lambda: Equity("AAPL"),  # no venue
        lambda: Equity("AAPL.XNAS", currency="XYZ"),
        lambda: Equity("AAPL.XNAS", tick="0"),
        lambda: FuturesContract("ESZ4.CME", multiplier=0),
        lambda: FxPair("EURUSD.SIM", lot="-1000"),
    ],
    ids=["no-venue", "unknown-currency", "zero-tick", "zero-multiplier", "negative-lot"],
)
def test_invalid_instrument_definitions_are_refused(build: object) -> None:
    assert callable(build)
    with pytest.raises(ValueRangeError):
        build()


def test_min_price_above_max_price_is_refused() -> None:
    with pytest.raises(ValueRangeError, match="min_price"):
        Instrument(
            id=BinaryEventContract("X.KALSHI").id,
            asset_class=AssetClass.EVENT_CONTRACT,
            price_increment=Price.from_str("0.01"),
            size_increment=Quantity.from_int(1),
            quote_currency="USD",
            min_price=Price.from_str("0.99"),
            max_price=Price.from_str("0.01"),
        )


def test_instruments_are_immutable_and_hashable() -> None:
    es = es_future()
    assert es == es_future()
    assert hash(es) == hash(es_future())
    with pytest.raises(AttributeError):
        es.multiplier = 5  # type: ignore[misc]
