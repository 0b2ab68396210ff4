"""RiskEngine: approvals reach the venue, each limit's breach is denied with its numbers.

The rig is the shared one of ``rig.py`` (real bus, clock, portfolio, execution engine), here
without circuit breakers; its fake venue records the commands the execution engine routes to it
and, when a test asks, publishes the fills and cancels a venue would.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import instrument_id
from tradeloop.core.message import Event
from tradeloop.model.commands import CancelAllOrders, SubmitOrder
from tradeloop.model.events import OrderDenied
from tradeloop.model.objects import Price, Quantity
from tradeloop.risk import OrderModifyDenied, RiskConfig, TradingState, TradingStateChanged
from tradeloop.testkit import make_quote

from . import rig as shared
from .rig import BUY, SELL, START_NS, STRATEGY


class Rig(shared.Rig):
    """The shared risk rig without circuit breakers, so only the risk engine's own checks act."""

    def __init__(self, config: RiskConfig | None = None, cash: str = "100000") -> None:
        super().__init__(config, cash=cash, breakers=False)

    @property
    def denied(self) -> list[OrderDenied]:
        return self.of(OrderDenied)

    @property
    def modify_denied(self) -> list[OrderModifyDenied]:
        return self.of(OrderModifyDenied)

    @property
    def state_changes(self) -> list[TradingStateChanged]:
        return self.of(TradingStateChanged)


def state_of(rig: Rig) -> TradingState:
    return rig.risk.trading_state


class StrategyWakeUp(Event, frozen=True, kw_only=True, gc=False):
    """Published from outside; its handler submits orders from inside the reactor."""


# -- approval ----------------------------------------------------------------------------------


def test_order_within_every_limit_reaches_the_venue_client() -> None:
    rig = Rig(
        RiskConfig(
            max_order_quantity=100,
            max_order_notional=20_000,
            max_position_quantity=500,
            max_position_notional=50_000,
            max_gross_exposure=80_000,
            max_open_orders=5,
            max_open_orders_per_instrument=2,
            max_order_rate=10,
            price_band_pct=5,
            max_daily_loss=1_000,
        )
    )
    rig.trade(rig.aapl, "100.00")

    command = rig.market(rig.aapl, BUY, "50")

    assert rig.xnas.submitted == [command]
    assert rig.denied == []
    assert rig.status(command) == "SUBMITTED"
    assert (rig.risk.approved, rig.risk.forwarded, rig.risk.denied) == (1, 1, 0)


def test_no_config_means_no_limits_even_for_a_huge_market_order_without_a_price() -> None:
    rig = Rig()

    command = rig.market(rig.aapl, BUY, "1000000")

    assert rig.xnas.submitted == [command]


# -- per-order limits --------------------------------------------------------------------------


def test_order_above_max_order_quantity_is_denied_with_both_numbers() -> None:
    rig = Rig(RiskConfig(max_order_quantity=100))

    command = rig.market(rig.aapl, BUY, "150")

    assert rig.xnas.submitted == []
    [denial] = rig.denied
    assert denial.reason == "max_order_quantity: 150 > 100 on AAPL.XNAS"
    assert denial.client_order_id == command.order.client_order_id
    assert denial.correlation_id == command.correlation_id
    assert denial.causation_id == command.id
    assert rig.status(command) == "DENIED"
    assert rig.execution.open_order_count() == 0


def test_per_instrument_quantity_override_replaces_the_default_for_that_instrument() -> None:
    rig = Rig(RiskConfig(max_order_quantity=100, max_order_quantity_by_instrument={"ESZ4.CME": 5}))

    es = rig.limit(rig.es, BUY, "6", "5000.00")
    aapl = rig.market(rig.aapl, BUY, "100")

    assert [d.reason for d in rig.denied] == ["max_order_quantity: 6 > 5 on ESZ4.CME"]
    assert rig.status(es) == "DENIED"
    assert rig.xnas.submitted == [aapl]


def test_limit_order_is_valued_at_its_limit_price_for_max_order_notional() -> None:
    rig = Rig(RiskConfig(max_order_notional=10_000))

    rig.limit(rig.aapl, BUY, "101", "99.00")  # 9999.00
    rig.limit(rig.aapl, BUY, "101", "100.00")  # 10100.00

    assert len(rig.xnas.submitted) == 1
    assert [d.reason for d in rig.denied] == [
        "max_order_notional: 10100.00 USD (101 x 100.00) > 10000.00 USD on AAPL.XNAS"
    ]


def test_order_notional_includes_the_contract_multiplier() -> None:
    rig = Rig(RiskConfig(max_order_notional=200_000))

    rig.limit(rig.es, BUY, "1", "5000.00")

    assert [d.reason for d in rig.denied] == [
        "max_order_notional: 250000.00 USD (1 x 5000.00 x 50) > 200000.00 USD on ESZ4.CME"
    ]
    assert rig.cme.submitted == []


def test_market_order_is_valued_at_the_last_price() -> None:
    rig = Rig(RiskConfig(max_order_notional=10_000))
    rig.trade(rig.aapl, "100.00")

    rig.market(rig.aapl, BUY, "100")
    rig.market(rig.aapl, BUY, "101")

    assert len(rig.xnas.submitted) == 1
    assert [d.reason for d in rig.denied] == [
        "max_order_notional: 10100.00 USD (101 x 100.00) > 10000.00 USD on AAPL.XNAS"
    ]


def test_market_order_valued_at_an_off_grid_quote_mid_is_reported_exactly() -> None:
    rig = Rig(RiskConfig(max_order_notional=10_000, price_band_pct=1))
    rig.bus.publish(make_quote(rig.aapl, "100.00", "100.01", ts_ns=rig.clock.timestamp_ns()))  # mid 100.005

    rig.market(rig.aapl, BUY, "100")
    rig.limit(rig.aapl, BUY, "1", "102.00")

    assert [d.reason for d in rig.denied] == [
        "max_order_notional: 10000.50 USD (100 x 100.005) > 10000.00 USD on AAPL.XNAS",
        "price_band_pct: price 102.00 is 2.00% away from the last price 100.005 on AAPL.XNAS, "
        "outside the band of 1%",
    ]


def test_market_order_without_a_last_price_is_denied_when_a_notional_limit_is_on() -> None:
    rig = Rig(RiskConfig(max_gross_exposure=1_000_000))

    rig.market(rig.aapl, BUY, "1")

    assert [d.reason for d in rig.denied] == [
        "max_gross_exposure: no last price on AAPL.XNAS to value a MARKET order"
    ]


def test_stop_market_order_is_valued_at_its_trigger_price() -> None:
    rig = Rig(RiskConfig(max_order_notional=10_000))
    rig.trade(rig.aapl, "90.00")

    spec = rig.orders.stop_market(rig.aapl.id, BUY, rig.aapl.make_qty("100"), rig.aapl.make_price("101.00"))
    rig.submit(spec)

    assert [d.reason for d in rig.denied] == [
        "max_order_notional: 10100.00 USD (100 x 101.00) > 10000.00 USD on AAPL.XNAS"
    ]


# -- position and exposure limits --------------------------------------------------------------


def test_position_quantity_limit_counts_the_existing_position() -> None:
    rig = Rig(RiskConfig(max_position_quantity=100))
    rig.hold(rig.aapl, BUY, "80", "100.00")

    rig.market(rig.aapl, BUY, "30")
    allowed = rig.market(rig.aapl, BUY, "20")

    assert [d.reason for d in rig.denied] == [
        "max_position_quantity: net position would be 110 (now 80, BUY 30) > 100 on AAPL.XNAS"
    ]
    assert rig.last_submitted(rig.aapl) is allowed


def test_sell_that_flips_the_position_is_checked_on_the_new_side() -> None:
    rig = Rig(RiskConfig(max_position_quantity=100))
    rig.hold(rig.aapl, BUY, "80", "100.00")

    rig.market(rig.aapl, SELL, "181")
    flip_to_100_short = rig.market(rig.aapl, SELL, "180")

    assert [d.reason for d in rig.denied] == [
        "max_position_quantity: net position would be 101 (now 80, SELL 181) > 100 on AAPL.XNAS"
    ]
    assert rig.last_submitted(rig.aapl) is flip_to_100_short


def test_reducing_order_passes_when_position_and_exposure_limits_are_already_breached() -> None:
    rig = Rig()
    rig.hold(rig.aapl, BUY, "80", "100.00")
    rig.risk.update_config(
        RiskConfig(max_position_quantity=50, max_position_notional=1_000, max_gross_exposure=1_000)
    )

    rig.market(rig.aapl, BUY, "1")
    reduce = rig.market(rig.aapl, SELL, "30")
    # With the 30 still working, selling 80 more could leave the account 30 short: not reducing.
    rig.market(rig.aapl, SELL, "80")
    rig.market(rig.aapl, SELL, "150")  # crosses zero: checked, not "reducing"
    rest = rig.market(rig.aapl, SELL, "50")  # 30 + 50 = 80: together they just close it

    assert [d.reason for d in rig.denied] == [
        "max_position_quantity: net position would be 81 (now 80, BUY 1) > 50 on AAPL.XNAS",
        "max_position_notional: position would be worth 3000.00 USD (30 x 100.00) > 1000.00 USD on AAPL.XNAS",
        "max_position_quantity: net position would be 100 (now 80, SELL 150, 30 more working) > 50 "
        "on AAPL.XNAS",
    ]
    assert rig.xnas.submitted[-2:] == [reduce, rest]


def test_position_notional_limit_values_the_whole_position_at_the_order_price() -> None:
    rig = Rig(RiskConfig(max_position_notional=10_000))
    rig.hold(rig.aapl, BUY, "80", "100.00")

    rig.limit(rig.aapl, BUY, "25", "100.00")
    allowed = rig.limit(rig.aapl, BUY, "20", "100.00")

    assert [d.reason for d in rig.denied] == [
        "max_position_notional: position would be worth 10500.00 USD (105 x 100.00) > 10000.00 USD "
        "on AAPL.XNAS"
    ]
    assert rig.last_submitted(rig.aapl) is allowed


def test_gross_exposure_adds_the_other_instruments_positions() -> None:
    rig = Rig(RiskConfig(max_gross_exposure=300_000))
    rig.hold(rig.aapl, BUY, "500", "100.00")  # 50,000 of exposure

    one = rig.limit(rig.es, BUY, "1", "5000.00")  # 250,000: 300,000 in all
    rig.limit(rig.es, BUY, "2", "5000.00")  # with the first still working: 3 x 250,000 + 50,000

    assert rig.cme.submitted == [one]
    assert [d.reason for d in rig.denied] == [
        "max_gross_exposure: gross exposure would be 800000.00 USD with every working order filled "
        "(positions now 50000.00 USD) > 300000.00 USD"
    ]


# -- open orders and rate ----------------------------------------------------------------------


def test_max_open_orders_counts_every_instrument_and_frees_a_slot_on_cancel() -> None:
    rig = Rig(RiskConfig(max_open_orders=2))
    first = rig.limit(rig.aapl, BUY, "1", "99.00")
    rig.limit(rig.es, BUY, "1", "4000.00")

    rig.limit(rig.aapl, BUY, "1", "98.00")
    rig.xnas.confirm_cancel(first)
    after_cancel = rig.limit(rig.aapl, BUY, "1", "97.00")

    assert [d.reason for d in rig.denied] == ["max_open_orders: 3 open orders with this one > 2"]
    assert rig.last_submitted(rig.aapl) is after_cancel


def test_max_open_orders_per_instrument_leaves_other_instruments_alone() -> None:
    rig = Rig(RiskConfig(max_open_orders_per_instrument=1))
    rig.limit(rig.aapl, BUY, "1", "99.00")

    rig.limit(rig.aapl, BUY, "1", "98.00")
    es = rig.limit(rig.es, BUY, "1", "4000.00")

    assert [d.reason for d in rig.denied] == [
        "max_open_orders_per_instrument: 2 open orders on AAPL.XNAS with this one > 1"
    ]
    assert rig.cme.submitted == [es]


def test_order_denied_earlier_in_the_same_reactor_step_does_not_hold_an_open_order_slot() -> None:
    rig = Rig(RiskConfig(max_open_orders=1, max_open_orders_per_instrument=1, max_order_quantity=100))
    too_big = rig.command(
        rig.orders.limit(rig.aapl.id, BUY, rig.aapl.make_qty("500"), rig.aapl.make_price("99.00"))
    )
    fine = rig.command(
        rig.orders.limit(rig.aapl.id, BUY, rig.aapl.make_qty("10"), rig.aapl.make_price("99.00"))
    )

    def strategy(_: StrategyWakeUp) -> None:
        # Both commands are queued before the first denial is applied by the execution engine.
        rig.bus.publish(too_big)
        rig.bus.publish(fine)

    rig.bus.subscribe(StrategyWakeUp, strategy)
    rig.bus.publish(StrategyWakeUp(id="w", correlation_id="w", ts_event=START_NS, ts_init=START_NS))

    assert [d.reason for d in rig.denied] == ["max_order_quantity: 500 > 100 on AAPL.XNAS"]
    assert rig.xnas.submitted == [fine]
    assert rig.execution.open_order_count() == 1


def test_order_rate_throttle_slides_with_the_clock() -> None:
    rig = Rig(RiskConfig(max_order_rate=2, rate_interval_seconds=1))

    def buy() -> SubmitOrder:
        return rig.limit(rig.aapl, BUY, "1", "99.00")

    t0 = buy()
    rig.advance(Decimal("0.6"))
    t06 = buy()
    rig.advance(Decimal("0.3"))
    buy()  # t0 + 0.9: two approvals in the window
    rig.advance(Decimal("0.1"))
    t10 = buy()  # t0 + 1.0: the approval at t0 left the window
    rig.advance(Decimal("0.2"))
    buy()  # t0 + 1.2: t0 + 0.6 and t0 + 1.0 are in the window

    assert rig.xnas.submitted == [t0, t06, t10]
    assert [d.reason for d in rig.denied] == [
        "max_order_rate: 2 orders approved in the last 1 s reach the limit of 2"
    ] * 2


# -- price band --------------------------------------------------------------------------------


def test_price_band_needs_a_last_price_for_every_order_type() -> None:
    rig = Rig(RiskConfig(price_band_pct=5))

    rig.limit(rig.aapl, BUY, "1", "100.00")
    rig.market(rig.aapl, BUY, "1")

    assert [d.reason for d in rig.denied] == [
        "price_band_pct: no last price on AAPL.XNAS to check the band against"
    ] * 2
    assert rig.xnas.submitted == []


def test_limit_and_trigger_prices_outside_the_band_are_denied() -> None:
    rig = Rig(RiskConfig(price_band_pct=5))
    rig.trade(rig.aapl, "100.00")
    qty = rig.aapl.make_qty("1")
    px = rig.aapl.make_price

    at_edge = rig.limit(rig.aapl, BUY, "1", "105.00")
    rig.limit(rig.aapl, BUY, "1", "105.01")
    stop_at_edge = rig.submit(rig.orders.stop_market(rig.aapl.id, SELL, qty, px("95.00")))
    rig.submit(rig.orders.stop_market(rig.aapl.id, SELL, qty, px("94.99")))
    rig.submit(rig.orders.stop_limit(rig.aapl.id, SELL, qty, px("96.00"), px("94.00")))
    market = rig.market(rig.aapl, BUY, "1")

    assert [d.reason for d in rig.denied] == [
        "price_band_pct: price 105.01 is 5.01% away from the last price 100.00 on AAPL.XNAS, "
        "outside the band of 5%",
        "price_band_pct: trigger price 94.99 is 5.01% away from the last price 100.00 on AAPL.XNAS, "
        "outside the band of 5%",
        "price_band_pct: trigger price 94.00 is 6.00% away from the last price 100.00 on AAPL.XNAS, "
        "outside the band of 5%",
    ]
    assert rig.xnas.submitted == [at_edge, stop_at_edge, market]


# -- trading state -----------------------------------------------------------------------------


def test_daily_loss_limit_moves_to_reducing_and_only_reducing_orders_pass() -> None:
    rig = Rig(RiskConfig(max_daily_loss=1_000))
    rig.hold(rig.aapl, BUY, "100", "100.00")
    rig.trade(rig.aapl, "89.00")  # equity 98,900: a loss of 1,100 today

    opening = rig.market(rig.aapl, BUY, "10")
    reducing = rig.market(rig.aapl, SELL, "40")
    reduce_only = rig.market(rig.es, SELL, "1", reduce_only=True)
    rig.market(rig.es, BUY, "1")

    assert state_of(rig) is TradingState.REDUCING
    [change] = rig.state_changes
    assert (change.previous, change.state) == (TradingState.ACTIVE, TradingState.REDUCING)
    assert change.reason == "max_daily_loss: daily loss 1100.00 USD reached the limit 1000.00 USD"
    assert change.causation_id == opening.id
    assert rig.status(opening) == "DENIED"
    assert rig.denied[0].reason == (
        "max_daily_loss: trading state REDUCING (max_daily_loss: daily loss 1100.00 USD reached the "
        "limit 1000.00 USD); BUY 10 would not reduce the net position 100 on AAPL.XNAS"
    )
    assert rig.xnas.submitted[-1] is reducing
    assert rig.cme.submitted == [reduce_only]
    assert rig.risk.denied_by_check() == {"max_daily_loss": 2}


def test_daily_loss_trips_on_a_losing_fill_before_the_next_order() -> None:
    rig = Rig(RiskConfig(max_daily_loss=1_000))
    rig.hold(rig.aapl, BUY, "100", "100.00")
    exit_order = rig.market(rig.aapl, SELL, "10")
    rig.trade(rig.aapl, "85.00")
    assert state_of(rig) is TradingState.ACTIVE  # marks alone are seen at the next order or fill

    rig.xnas.fill(rig.aapl, exit_order, "85.00")

    assert state_of(rig) is TradingState.REDUCING
    assert [c.reason for c in rig.state_changes] == [
        "max_daily_loss: daily loss 1500.00 USD reached the limit 1000.00 USD"
    ]


def test_daily_loss_state_holds_for_the_rest_of_the_day_even_if_the_loss_recovers() -> None:
    rig = Rig(RiskConfig(max_daily_loss=1_000))
    rig.hold(rig.aapl, BUY, "100", "100.00")
    rig.trade(rig.aapl, "89.00")
    rig.market(rig.aapl, BUY, "10")

    rig.advance(3_600)
    rig.trade(rig.aapl, "101.00")  # back in profit for the day
    rig.market(rig.aapl, BUY, "10")

    assert state_of(rig) is TradingState.REDUCING
    assert len(rig.state_changes) == 1
    assert [d.reason.partition(":")[0] for d in rig.denied] == ["max_daily_loss"] * 2


def test_daily_loss_state_lifts_on_the_next_trading_day() -> None:
    rig = Rig(RiskConfig(max_daily_loss=1_000))
    rig.hold(rig.aapl, BUY, "100", "100.00")
    rig.trade(rig.aapl, "89.00")
    rig.market(rig.aapl, BUY, "10")
    assert state_of(rig) is TradingState.REDUCING

    rig.advance(86_400)
    rig.trade(rig.aapl, "89.00")  # the first mark of the day resets the day's P&L
    opening = rig.market(rig.aapl, BUY, "10")

    assert state_of(rig) is TradingState.ACTIVE
    assert [c.state for c in rig.state_changes] == [TradingState.REDUCING, TradingState.ACTIVE]
    assert rig.state_changes[-1].reason == "max_daily_loss: a new trading day began"
    assert rig.last_submitted(rig.aapl) is opening


def test_halted_denies_every_order_but_lets_cancels_through() -> None:
    rig = Rig()
    rig.hold(rig.aapl, BUY, "100", "100.00")
    resting = rig.limit(rig.aapl, SELL, "10", "110.00")

    assert rig.risk.set_trading_state(TradingState.HALTED, "operator kill switch") is True
    rig.market(rig.aapl, SELL, "100", reduce_only=True)
    rig.modify(resting, price=rig.aapl.make_price("111.00"))
    cancel = rig.cancel(resting)
    now = rig.clock.timestamp_ns()
    cancel_all = CancelAllOrders(
        id="ca",
        correlation_id="ca",
        ts_event=now,
        ts_init=now,
        strategy_id=STRATEGY,
        instrument_id=rig.aapl.id,
    )
    rig.bus.publish(cancel_all)

    [change] = rig.state_changes
    assert (change.state, change.reason) == (TradingState.HALTED, "operator kill switch")
    assert [d.reason for d in rig.denied] == [
        "trading_state: HALTED (operator kill switch); only cancels pass"
    ]
    assert [d.reason for d in rig.modify_denied] == [
        "trading_state: HALTED (operator kill switch); only cancels pass"
    ]
    assert rig.xnas.modified == []
    assert rig.xnas.canceled == [cancel]
    assert rig.xnas.canceled_all == [cancel_all]
    assert rig.status(resting) == "SUBMITTED"  # a denied modify leaves the order alone


def test_setting_the_same_state_again_publishes_nothing_and_active_resumes_trading() -> None:
    rig = Rig()
    rig.risk.set_trading_state(TradingState.HALTED, "maintenance")

    assert rig.risk.set_trading_state(TradingState.HALTED, "still maintenance") is False
    assert rig.risk.set_trading_state(TradingState.ACTIVE, "maintenance over") is True
    command = rig.market(rig.aapl, BUY, "1")

    assert [c.state for c in rig.state_changes] == [TradingState.HALTED, TradingState.ACTIVE]
    assert rig.xnas.submitted == [command]


def test_operator_reducing_state_is_not_lifted_by_a_new_day() -> None:
    rig = Rig(RiskConfig(max_daily_loss=1_000))
    rig.risk.set_trading_state(TradingState.REDUCING, "desk closing")

    rig.market(rig.aapl, BUY, "10")
    rig.advance(86_400)
    rig.trade(rig.aapl, "100.00")
    rig.market(rig.aapl, BUY, "10")

    assert state_of(rig) is TradingState.REDUCING
    assert [d.reason for d in rig.denied] == [
        "trading_state: trading state REDUCING (desk closing); BUY 10 would not reduce the net position 0 "
        "on AAPL.XNAS"
    ] * 2


def test_state_change_needs_a_reason() -> None:
    rig = Rig()

    with pytest.raises(TradeloopError, match="needs a reason"):
        rig.risk.set_trading_state(TradingState.HALTED, "")


def test_trading_state_changed_survives_an_encode_decode_round_trip() -> None:
    rig = Rig()
    rig.risk.set_trading_state(TradingState.REDUCING, "drawdown review")
    [change] = rig.state_changes

    decoded = msgspec.json.decode(msgspec.json.encode(change), type=TradingStateChanged)

    assert decoded == change


# -- bypass, modify, config swap ---------------------------------------------------------------


def test_bypass_skips_the_limits_but_not_the_halted_state() -> None:
    rig = Rig(RiskConfig(bypass=True, max_order_quantity=1, price_band_pct=1))

    big = rig.market(rig.aapl, BUY, "500")
    rig.risk.set_trading_state(TradingState.HALTED, "kill switch")
    rig.market(rig.aapl, BUY, "1")

    assert rig.xnas.submitted == [big]
    assert [d.reason.partition(":")[0] for d in rig.denied] == ["trading_state"]


def test_modify_is_checked_for_quantity_and_price_band_only_approved_changes_reach_the_venue() -> None:
    rig = Rig(RiskConfig(max_order_quantity=100, price_band_pct=5))
    rig.trade(rig.aapl, "100.00")
    resting = rig.limit(rig.aapl, BUY, "10", "99.00")

    rig.modify(resting, quantity=rig.aapl.make_qty("150"))
    rig.modify(resting, price=rig.aapl.make_price("94.00"))
    good = rig.modify(resting, quantity=rig.aapl.make_qty("20"), price=rig.aapl.make_price("98.00"))

    assert [d.reason for d in rig.modify_denied] == [
        "max_order_quantity: 150 > 100 on AAPL.XNAS",
        "price_band_pct: price 94.00 is 6.00% away from the last price 100.00 on AAPL.XNAS, "
        "outside the band of 5%",
    ]
    assert all(d.client_order_id == resting.order.client_order_id for d in rig.modify_denied)
    assert rig.xnas.modified == [good]
    assert rig.status(resting) == "SUBMITTED"


def test_modify_that_grows_an_opening_order_is_denied_while_reducing() -> None:
    rig = Rig()
    rig.hold(rig.aapl, BUY, "50", "100.00")
    opening = rig.limit(rig.aapl, BUY, "10", "99.00")
    exit_order = rig.limit(rig.aapl, SELL, "10", "101.00")
    rig.risk.set_trading_state(TradingState.REDUCING, "risk review")

    rig.modify(opening, quantity=rig.aapl.make_qty("20"))
    shrink = rig.modify(opening, quantity=rig.aapl.make_qty("5"))
    grow_exit = rig.modify(exit_order, quantity=rig.aapl.make_qty("50"))

    assert [d.reason.partition(":")[0] for d in rig.modify_denied] == ["trading_state"]
    assert rig.xnas.modified == [shrink, grow_exit]


def test_update_config_applies_to_the_next_order_and_returns_the_previous_config() -> None:
    first = RiskConfig(max_order_quantity=10)
    rig = Rig(first)
    rig.market(rig.aapl, BUY, "20")

    previous = rig.risk.update_config(RiskConfig(max_order_quantity=50))
    allowed = rig.market(rig.aapl, BUY, "20")

    assert previous is first
    assert rig.risk.config.max_order_quantity == Decimal(50)
    assert rig.xnas.submitted == [allowed]
    assert len(rig.denied) == 1


def test_update_config_rejects_anything_but_a_risk_config() -> None:
    rig = Rig()

    with pytest.raises(TradeloopError, match="needs a RiskConfig"):
        rig.risk.update_config({"max_order_quantity": 1})  # type: ignore[arg-type]


# -- instrument checks, counters, misuse -------------------------------------------------------


def test_orders_on_unknown_instruments_or_off_the_grid_are_denied() -> None:
    rig = Rig(RiskConfig(max_order_quantity=1000))
    factory = rig.orders

    rig.submit(factory.market(instrument_id("NVDA.XNAS"), BUY, Quantity.from_int(1)))
    rig.submit(factory.market(rig.aapl.id, BUY, Quantity.from_str("1.5")))
    rig.submit(factory.limit(rig.aapl.id, BUY, Quantity.from_int(1), Price.from_str("100.005")))

    assert [d.reason for d in rig.denied] == [
        "instrument: unknown instrument NVDA.XNAS",
        "instrument: AAPL.XNAS quantity 1.5 is not a multiple of the lot size 1",
        "instrument: AAPL.XNAS price 100.005 is not a multiple of the tick size 0.01",
    ]
    assert rig.xnas.submitted == []


def test_counters_count_approvals_forwards_and_denials_per_check() -> None:
    rig = Rig(RiskConfig(max_order_quantity=100, max_open_orders_per_instrument=1))
    resting = rig.limit(rig.aapl, BUY, "10", "99.00")
    rig.limit(rig.aapl, BUY, "10", "98.00")
    rig.market(rig.aapl, BUY, "500")
    rig.market(rig.aapl, BUY, "600")
    rig.cancel(resting)

    assert rig.risk.approved == 1
    assert rig.risk.forwarded == 2
    assert rig.risk.denied == 3
    assert rig.risk.denied_by_check() == {"max_open_orders_per_instrument": 1, "max_order_quantity": 2}


def test_duplicate_client_order_id_is_neither_approved_nor_denied() -> None:
    rig = Rig()
    command = rig.market(rig.aapl, BUY, "1")

    rig.bus.publish(command)

    assert rig.xnas.submitted == [command]
    assert rig.denied == []
    assert sorted(f.handler.rpartition(".")[2] for f in rig.failures) == ["_on_command", "_register"]
    assert rig.status(command) == "SUBMITTED"


def test_duplicate_within_one_reactor_step_is_not_sent_twice() -> None:
    rig = Rig()
    command = rig.command(
        rig.orders.limit(rig.aapl.id, BUY, rig.aapl.make_qty("1"), rig.aapl.make_price("99.00"))
    )

    def strategy(_: StrategyWakeUp) -> None:
        rig.bus.publish(command)
        rig.bus.publish(command)  # queued before the first one's OrderSubmitted is applied

    rig.bus.subscribe(StrategyWakeUp, strategy)
    rig.bus.publish(StrategyWakeUp(id="w", correlation_id="w", ts_event=START_NS, ts_init=START_NS))

    assert rig.xnas.submitted == [command]
    assert rig.risk.approved == 1
    assert rig.status(command) == "SUBMITTED"


def test_position_limits_count_orders_already_working_on_the_same_side() -> None:
    # Three approved-but-unfilled buys of 100 must not slip past a 100 limit one by one.
    rig = Rig(RiskConfig(max_position_quantity=100))
    rig.trade(rig.aapl, "100.00")
    first = rig.market(rig.aapl, BUY, "100")
    rig.market(rig.aapl, BUY, "100")
    rig.market(rig.aapl, BUY, "100")
    assert rig.xnas.submitted == [first]
    assert len(rig.denied) == 2


def test_in_reducing_state_several_sells_together_cannot_flip_the_position() -> None:
    rig = Rig()
    rig.hold(rig.aapl, BUY, "100", "100.00")
    rig.risk.set_trading_state(TradingState.REDUCING, "test")
    sells = [rig.market(rig.aapl, SELL, "100") for _ in range(3)]
    assert rig.xnas.submitted[-1] is sells[0]
    assert len(rig.denied) == 2
    assert all("would not reduce" in d.reason for d in rig.denied)
