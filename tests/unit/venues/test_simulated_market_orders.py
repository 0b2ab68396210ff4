"""Market orders: they fill at the first price the venue sees after acceptance, as takers."""

from __future__ import annotations

from decimal import Decimal

from tradeloop.core import IdFactory, MessageBus, SimulatedClock, Venue
from tradeloop.execution.client import ExecutionClient
from tradeloop.model import (
    Equity,
    LiquiditySide,
    Money,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    Price,
)
from tradeloop.venues.simulated import FillModel, SimulatedExchange, SimulatedVenueConfig


def test_exchange_serves_as_execution_client_with_venue_and_account() -> None:
    clock = SimulatedClock(0)
    exchange = SimulatedExchange(
        Venue("SIM"),
        bus=MessageBus(clock, IdFactory(1)),
        clock=clock,
        ids=IdFactory(2),
        instruments=[Equity("AAPL.SIM")],
        config=SimulatedVenueConfig(starting_balances=Money.from_str("1", "USD")),
    )
    client: ExecutionClient = exchange  # mypy checks the structural conformance here
    assert client.venue == "SIM"
    assert client.account_id == "SIM-001"


def test_market_buy_fills_at_next_bar_open_not_the_bar_already_seen(sim):
    sim.bar("100.00", "101.00", "99.00", "100.50")
    coid = sim.submit("BUY", 10)
    assert sim.kinds(coid) == ["OrderAccepted"]
    sim.bar("100.80", "102.00", "100.10", "101.90")
    (fill,) = sim.fills(coid)
    assert fill.last_px == Price.from_str("100.80")
    assert fill.last_qty.as_decimal() == 10
    assert fill.liquidity_side is LiquiditySide.TAKER
    assert sim.orders[coid].is_closed


def test_market_orders_fill_against_quote_ask_for_buys_and_bid_for_sells(sim):
    sim.quote("99.98", "100.02")
    buy = sim.submit("BUY", 5)
    sim.quote("100.00", "100.05")
    assert sim.fills(buy)[0].last_px == Price.from_str("100.05")
    sell = sim.submit("SELL", 5)
    sim.quote("99.90", "99.95")
    assert sim.fills(sell)[0].last_px == Price.from_str("99.90")
    assert sim.venue.position_raw(sim.aapl.id) == 0


def test_market_order_fills_at_next_trade_price(sim):
    sim.trade("100.00")
    coid = sim.submit("BUY", 3)
    assert sim.fills(coid) == []
    sim.trade("100.07")
    assert sim.fills(coid)[0].last_px == Price.from_str("100.07")


def test_slippage_moves_market_fills_against_the_taker(make_sim):
    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"), fill_model=FillModel(slippage_ticks=2)
    )
    sim = make_sim(config=config)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    buy = sim.submit("BUY", 10)
    sim.bar("101.00", "101.00", "101.00", "101.00")
    sell = sim.submit("SELL", 10)
    sim.bar("102.00", "102.00", "102.00", "102.00")
    assert sim.fills(buy)[0].last_px == Price.from_str("101.02")
    assert sim.fills(sell)[0].last_px == Price.from_str("101.98")


def test_slippage_is_clamped_to_the_event_contract_price_band(make_sim):
    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("1000", "USD"), fill_model=FillModel(slippage_ticks=5)
    )
    sim = make_sim(config=config)
    sim.trade("0.97", instrument=sim.event)
    coid = sim.submit("BUY", 10, instrument=sim.event)
    sim.trade("0.98", instrument=sim.event)
    assert sim.fills(coid)[0].last_px == Price.from_str("0.99")


def test_events_carry_command_correlation_and_causation_chain(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 1)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    accepted = sim.of(OrderAccepted, coid)[0]
    fill = sim.fills(coid)[0]
    command = sim.commands[accepted.causation_id]
    assert accepted.correlation_id == command.correlation_id == fill.correlation_id
    assert fill.causation_id == accepted.id
    assert accepted.venue_order_id == "SIM-1"
    assert fill.trade_id == "SIM-T-1"
    assert fill.account_id == "SIM-001"
    assert fill.ts_event == sim.clock.timestamp_ns()
    assert len({e.id for e in sim.events}) == len(sim.events)


def test_venue_order_and_trade_ids_count_up_per_venue(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    first = sim.submit("BUY", 1)
    second = sim.submit("BUY", 1)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert [sim.of(OrderAccepted, c)[0].venue_order_id for c in (first, second)] == ["SIM-1", "SIM-2"]
    assert [sim.fills(c)[0].trade_id for c in (first, second)] == ["SIM-T-1", "SIM-T-2"]


def test_market_buy_without_any_known_price_is_rejected_on_cash_account(sim):
    coid = sim.submit("BUY", 1)
    (rejected,) = sim.of(OrderRejected, coid)
    assert "no market price known" in rejected.reason


def test_market_order_on_other_instrument_ignores_unrelated_data(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.bar("5000.00", "5000.00", "5000.00", "5000.00", instrument=sim.es)
    coid = sim.submit("BUY", 1)
    sim.bar("5001.00", "5001.00", "5001.00", "5001.00", instrument=sim.es)
    assert sim.fills(coid) == []
    sim.bar("100.50", "100.50", "100.50", "100.50")
    assert sim.fills(coid)[0].last_px == Price.from_str("100.50")


def test_taker_fee_is_exact_fraction_of_notional(sim):
    sim.bar("123.45", "123.45", "123.45", "123.45")
    coid = sim.submit("BUY", 7)
    sim.bar("123.47", "123.47", "123.47", "123.47")
    fill: OrderFilled = sim.fills(coid)[0]
    expected = (Decimal("123.47") * 7 * Decimal("0.0005")).quantize(Decimal("0.01"))
    assert fill.commission == Money.from_decimal(expected, "USD")


def test_fok_market_order_canceled_when_volume_cannot_fill_it_at_once(make_sim):
    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"),
        fill_model=FillModel(max_volume_participation=Decimal("0.1")),
    )
    sim = make_sim(config=config)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 50, time_in_force="FOK")
    sim.bar("100.00", "100.00", "100.00", "100.00", volume="400")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderCanceled"]
    assert sim.venue.position_raw(sim.aapl.id) == 0
    assert sim.of(OrderCanceled, coid)[0].causation_id == sim.of(OrderAccepted, coid)[0].id


def test_handler_that_answers_a_fill_with_an_order_sees_consistent_venue_state(sim):
    placed = []

    def on_fill(event: OrderFilled) -> None:
        if not placed:
            # Zero latency: handled inside this handler, while the venue publishes.
            placed.append(sim.submit("SELL", 4, "LIMIT", price="101.00"))

    sim.bus.subscribe(OrderFilled, on_fill)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    buy = sim.submit("BUY", 4)
    sim.bar("100.50", "100.70", "100.40", "100.60")
    (sell,) = placed
    # The sell was validated against the position the fill created, and its events come after.
    assert sim.kinds(sell) == ["OrderAccepted"]
    assert sim.events.index(sim.fills(buy)[0]) < sim.events.index(sim.of(OrderAccepted, sell)[0])
    sim.bar("100.60", "101.20", "100.50", "101.10")
    assert sim.fills(sell)[0].last_px == Price.from_str("101.00")


def test_cash_market_buy_that_gaps_past_the_cash_fills_what_it_can_and_cancels_the_rest(make_sim):
    sim = make_sim(config=SimulatedVenueConfig(starting_balances=Money.from_str("1005", "USD")))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10)
    assert sim.kinds(coid) == ["OrderAccepted"]
    sim.bar("120.00", "120.00", "120.00", "120.00")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderFilled", "OrderCanceled"]
    assert sim.filled_qty(coid) == 8  # 8 x 120 + fee fits in 1005; 9 x 120 does not
    assert sim.venue.balance().raw >= 0


def test_bars_do_not_match_when_bar_execution_is_off_but_still_set_the_last_price(make_sim):
    sim = make_sim(
        config=SimulatedVenueConfig(starting_balances=Money.from_str("100000", "USD"), bar_execution=False)
    )
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 1)
    assert sim.kinds(coid) == ["OrderAccepted"]
    sim.bar("101.00", "101.00", "101.00", "101.00")
    assert sim.fills(coid) == []
    sim.trade("101.05")
    assert sim.fills(coid)[0].last_px == Price.from_str("101.05")


def test_open_orders_report_what_the_venue_holds(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    limit = sim.submit("BUY", 10, "LIMIT", price="99.00")
    stop = sim.submit("BUY", 5, "STOP_MARKET", trigger="105.00")
    reports = sim.venue.open_orders()
    assert [r.client_order_id for r in reports] == [limit, stop]
    first = reports[0]
    assert (first.venue_order_id, first.price, first.trigger_price) == (
        "SIM-1",
        Price.from_str("99.00"),
        None,
    )
    assert first.filled_qty.raw == 0
    assert reports[1].trigger_price == Price.from_str("105.00")
    assert sim.venue.order_report("NOPE") is None


def test_sell_slippage_is_clamped_to_the_event_contract_minimum_price(make_sim):
    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("1000", "USD"), fill_model=FillModel(slippage_ticks=5)
    )
    sim = make_sim(config=config)
    sim.trade("0.50", instrument=sim.event)
    buy = sim.submit("BUY", 10, instrument=sim.event)
    sim.trade("0.50", instrument=sim.event)
    inside = sim.submit("SELL", 5, instrument=sim.event)
    sim.trade("0.50", instrument=sim.event)
    floored = sim.submit("SELL", 5, instrument=sim.event)
    sim.trade("0.03", instrument=sim.event)  # five ticks lower would be -0.02
    assert sim.fills(buy)[0].last_px == Price.from_str("0.55")
    assert sim.fills(inside)[0].last_px == Price.from_str("0.45")  # well inside the band: no clamp
    assert sim.fills(floored)[0].last_px == Price.from_str("0.01")


def test_fills_stay_inside_the_event_contract_band_without_slippage_too(make_sim):
    config = SimulatedVenueConfig(starting_balances=Money.from_str("1000", "USD"))
    sim = make_sim(config=config)
    sim.quote("0.97", "0.98", instrument=sim.event)
    first = sim.submit("BUY", 10, instrument=sim.event)
    sim.quote("0.99", "1.00", instrument=sim.event)  # the ask shows 1.00, outside 0.01..0.99
    second = sim.submit("BUY", 10, instrument=sim.event)
    sim.trade("1.00", instrument=sim.event)  # a print at settlement
    assert sim.fills(first)[0].last_px == Price.from_str("0.99")
    assert sim.fills(second)[0].last_px == Price.from_str("0.99")
