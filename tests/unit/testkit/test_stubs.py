"""The shipped test kit builds valid model objects with predictable defaults."""

from __future__ import annotations

from decimal import Decimal
from types import ModuleType

import pytest

import tradeloop.testkit as testkit
from tradeloop.core import SimulatedClock, ValueRangeError
from tradeloop.model import (
    AggressorSide,
    AssetClass,
    BarSpec,
    LiquiditySide,
    Money,
    OrderSide,
    Price,
    Quantity,
    fee_raw,
)
from tradeloop.testkit import (
    TestClock,
    aapl_equity,
    btcusdt,
    es_future,
    eurusd,
    event_contract,
    id_factory,
    make_bar,
    make_fill,
    make_quote,
    make_trade,
)


def test_public_names_are_exactly_the_exported_ones() -> None:
    exported = set(testkit.__all__)
    modules = {n for n in dir(testkit) if isinstance(getattr(testkit, n), ModuleType)}  # stubs, ...
    assert exported == {n for n in dir(testkit) if not n.startswith("_") and n not in modules}
    for name in exported:
        assert getattr(testkit, name) is not None


def test_stub_instruments_cover_the_asset_classes_with_distinct_ids() -> None:
    instruments = [es_future(), aapl_equity(), btcusdt(), eurusd(), event_contract()]
    assert {i.asset_class for i in instruments} == set(AssetClass)
    assert len({i.id for i in instruments}) == len(instruments)
    assert es_future().multiplier == 50
    assert btcusdt().size_precision == 6


def test_id_factory_is_seeded_and_repeatable() -> None:
    assert [id_factory().new_id() for _ in range(2)] == [id_factory().new_id() for _ in range(2)]
    assert id_factory(1).new_id() != id_factory(2).new_id()


def test_test_clock_is_a_simulated_clock_pytest_does_not_collect() -> None:
    clock = TestClock(5)
    assert isinstance(clock, SimulatedClock)
    assert clock.timestamp_ns() == 5
    assert TestClock.__test__ is False


def test_make_bar_snaps_values_onto_the_instrument() -> None:
    es = es_future()
    bar = make_bar(es, "4500", "4510.25", 4495, Decimal("4505.50"), volume=12, ts_ns=99, spec="5-MINUTE")
    assert bar.instrument_id == es.id
    assert (str(bar.open), str(bar.high), str(bar.low), str(bar.close)) == (
        "4500.00",
        "4510.25",
        "4495.00",
        "4505.50",
    )
    assert bar.volume == Quantity.from_int(12)
    assert bar.spec == BarSpec.parse("5-MINUTE")
    assert bar.ts_event == bar.ts_init == 99


def test_make_bar_refuses_prices_off_the_grid() -> None:
    with pytest.raises(ValueRangeError):
        make_bar(es_future(), "4500.10", "4501", "4499", "4500")


def test_make_quote_and_trade_use_the_instrument_precision() -> None:
    btc = btcusdt()
    quote = make_quote(btc, "30000.01", "30000.02", "0.5", "0.25", ts_ns=7)
    assert quote.bid_price == Price.from_str("30000.01")
    assert quote.ask_size == btc.make_qty("0.25")
    assert quote.bid_size.precision == 6
    trade = make_trade(btc, "30000.01", "0.000001", aggressor_side=AggressorSide.BUYER, trade_id="t")
    assert trade.size.raw == 1_000
    assert trade.aggressor_side is AggressorSide.BUYER


def test_make_fill_defaults_the_commission_to_the_instrument_fee() -> None:
    btc = btcusdt()  # 10 bps taker
    fill = make_fill(btc, OrderSide.BUY, "0.5", "30000.00")
    notional = btc.notional_raw(fill.last_px.raw, fill.last_qty.raw)
    assert fill.commission == Money(fee_raw(notional, btc.taker_fee_raw, 8), "USDT")
    assert str(fill.commission) == "15.00000000 USDT"
    assert fill.liquidity_side is LiquiditySide.TAKER
    assert fill.instrument_id == btc.id
    assert fill.client_order_id == "O-1"


def test_make_fill_takes_explicit_ids_and_commission() -> None:
    aapl = aapl_equity()
    fill = make_fill(
        aapl,
        OrderSide.SELL,
        10,
        "190.25",
        commission=Money.from_str("1.00", "USD"),
        ts_ns=42,
        client_order_id="O-9",
        trade_id="T-9",
        correlation_id="corr",
        ids=id_factory(5),
    )
    again = make_fill(
        aapl,
        OrderSide.SELL,
        10,
        "190.25",
        commission=Money.from_str("1.00", "USD"),
        ts_ns=42,
        client_order_id="O-9",
        trade_id="T-9",
        correlation_id="corr",
        ids=id_factory(5),
    )
    assert fill == again
    assert (fill.ts_event, fill.trade_id, fill.correlation_id) == (42, "T-9", "corr")


def test_default_fills_get_distinct_event_and_trade_ids() -> None:
    es = es_future()
    a, b = make_fill(es, OrderSide.BUY, 1, "4500"), make_fill(es, OrderSide.BUY, 1, "4500")
    assert a.id != b.id
    assert a.trade_id != b.trade_id


def test_make_order_round_chains_five_messages_under_one_correlation() -> None:
    from tradeloop.model.events import PositionChanged

    es = testkit.es_future()
    messages = testkit.make_order_round(
        es, "5000.25", ts_ns=100, tag="7", ids=testkit.id_factory(3), position_event=PositionChanged
    )
    submit, accepted, fill, position, account = messages
    assert [type(m).__name__ for m in messages] == [
        "SubmitOrder",
        "OrderAccepted",
        "OrderFilled",
        "PositionChanged",
        "AccountStateChanged",
    ]
    assert [m.ts_event for m in messages] == [100, 101, 102, 103, 104]
    assert len({m.correlation_id for m in messages}) == 1
    assert (accepted.causation_id, fill.causation_id) == (submit.id, accepted.id)
    assert position.causation_id == account.causation_id == fill.id
    assert (str(fill.client_order_id), str(fill.venue_order_id), str(fill.trade_id)) == ("O-7", "V-7", "T-7")
    assert str(position.position_id) == "P-7"
    assert testkit.make_order_round(es, "5000.25", ts_ns=100, tag="7", ids=testkit.id_factory(3))[0] == submit
