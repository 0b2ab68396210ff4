"""Exit decisions: each condition fires exactly at its threshold, most urgent first.

Positions are real :class:`Position` objects fed by stub fills. AAPL: cents, whole shares,
10 shares bought (or sold short) at 100.00 unless a test says otherwise, so 1 % of P&L is a
1.00 move. The E-mini future (0.25 tick, 50 USD a point) shows the multiplier cancels out.
"""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.errors import ValueRangeError
from tradeloop.core.ids import PositionId, StrategyId
from tradeloop.lifecycle.events import ExitPriority, ExitReason
from tradeloop.lifecycle.exits import ExitEvaluator, ExitSignal, MarketSnapshot, WatchedPosition
from tradeloop.lifecycle.methods import (
    ExitRules,
    MarketCloseRule,
    MethodConfig,
    MonitorSettings,
    ProfitTarget,
    ScaleOutLevel,
    TrailingStopRule,
    VolatilityRule,
)
from tradeloop.lifecycle.volatility import VolatilityTracker
from tradeloop.model.enums import OrderSide
from tradeloop.model.instruments import BinaryEventContract, Instrument
from tradeloop.model.position import Position
from tradeloop.testkit import aapl_equity, es_future, event_contract, make_fill

BUY, SELL = OrderSide.BUY, OrderSide.SELL
SEC = NANOS_PER_SECOND
AAPL = aapl_equity()
ES = es_future()
OPENED_NS = 1_000 * SEC
NEW_YORK = ZoneInfo("America/New_York")


def px(instrument: Instrument, text: str) -> int:
    return instrument.make_price(text).raw


def qty(instrument: Instrument, text: str) -> int:
    return instrument.make_qty(text).raw


def trade(position: Position, side: OrderSide, quantity: str, price: str) -> None:
    fill = make_fill(position.instrument, side, quantity, price, ts_ns=OPENED_NS)
    position.apply(fill, fill.last_qty.raw)


def open_position(
    instrument: Instrument = AAPL, side: OrderSide = BUY, quantity: str = "10", price: str = "100.00"
) -> Position:
    position = Position(PositionId("P-1"), instrument, StrategyId("S-1"), OPENED_NS)
    trade(position, side, quantity, price)
    return position


def method(**exits: Any) -> MethodConfig:
    """A method with only the given exit rules on (the default stop loss is off unless given)."""
    exits.setdefault("stop_loss_pct", None)
    band = exits.pop("urgent_band_pct", Decimal(2))
    return MethodConfig(exits=ExitRules(**exits), monitor=MonitorSettings(urgent_band_pct=band))


def watch(position: Position, config: MethodConfig) -> WatchedPosition:
    return WatchedPosition(position, "test", config, OPENED_NS)


def evaluate(
    config: MethodConfig,
    position: Position,
    mark: str,
    *,
    now_ns: int = OPENED_NS,
    watched: WatchedPosition | None = None,
    **market: Any,
) -> list[ExitSignal]:
    watched = watched if watched is not None else watch(position, config)
    snapshot = MarketSnapshot(px(position.instrument, mark), **market)
    return ExitEvaluator(config).evaluate(watched, snapshot, now_ns)


def reasons(signals: list[ExitSignal]) -> list[ExitReason]:
    return [signal.reason for signal in signals]


# -- stop loss -----------------------------------------------------------------------------


def test_stop_loss_fires_at_minus_the_threshold_on_a_long() -> None:
    config = method(stop_loss_pct=Decimal(15))
    position = open_position()

    (signal,) = evaluate(config, position, "85.00")
    assert evaluate(config, position, "85.01") == []

    assert signal.reason is ExitReason.STOP_LOSS
    assert signal.priority is ExitPriority.CRITICAL
    assert signal.quantity_raw == qty(AAPL, "10")
    assert signal.detail == "P&L -15.00% <= -15%"
    assert reasons(evaluate(config, position, "84.80")) == [ExitReason.STOP_LOSS]
    assert evaluate(config, position, "84.80")[0].detail == "P&L -15.20% <= -15%"


def test_stop_loss_fires_when_a_short_rises_by_the_threshold() -> None:
    config = method(stop_loss_pct=Decimal(15))
    position = open_position(side=SELL)

    assert reasons(evaluate(config, position, "115.00")) == [ExitReason.STOP_LOSS]
    assert evaluate(config, position, "114.99") == []
    assert evaluate(config, position, "85.00") == []  # a falling price is a gain for a short


def test_stop_loss_percentage_is_of_the_cost_basis_whatever_the_multiplier() -> None:
    config = method(stop_loss_pct=Decimal(15))
    position = open_position(ES, quantity="2", price="5000.00")

    assert reasons(evaluate(config, position, "4250.00")) == [ExitReason.STOP_LOSS]
    assert evaluate(config, position, "4250.25") == []


def test_stop_loss_of_an_averaged_entry_uses_the_average_open_price() -> None:
    config = method(stop_loss_pct=Decimal(10))
    position = open_position(quantity="1", price="100.00")
    trade(position, BUY, "1", "102.00")  # average 101.00: the stop is at 90.90

    assert reasons(evaluate(config, position, "90.90")) == [ExitReason.STOP_LOSS]
    assert evaluate(config, position, "90.91") == []


# -- trailing stop -------------------------------------------------------------------------


def trailing_method(**rule: Any) -> MethodConfig:
    rule.setdefault("distance_pct", None if "atr_multiple" in rule else Decimal(2))
    return method(trailing_stop=TrailingStopRule(**rule))


def test_trailing_stop_fires_when_the_mark_reaches_it() -> None:
    config = trailing_method()
    position = open_position()
    watched = watch(position, config)
    assert watched.update_trailing(px(AAPL, "110.00")) is True  # stop at 107.80

    (signal,) = evaluate(config, position, "107.80", watched=watched)
    assert evaluate(config, position, "107.81", watched=watched) == []

    assert signal.reason is ExitReason.TRAILING_STOP
    assert signal.priority is ExitPriority.HIGH
    assert signal.detail == "trailing stop 107.80 hit at 107.80"


def test_trailing_stop_of_a_short_fires_when_the_mark_rises_to_it() -> None:
    config = trailing_method()
    position = open_position(side=SELL)
    watched = watch(position, config)
    watched.update_trailing(px(AAPL, "90.00"))  # stop at 91.80

    assert reasons(evaluate(config, position, "91.80", watched=watched)) == [ExitReason.TRAILING_STOP]
    assert evaluate(config, position, "91.79", watched=watched) == []


def test_trailing_stop_does_not_fire_before_activation() -> None:
    config = trailing_method(activation_pct=Decimal(5))
    position = open_position()
    watched = watch(position, config)
    watched.update_trailing(px(AAPL, "104.00"))

    assert evaluate(config, position, "90.00", watched=watched) == []


def test_evaluate_reads_the_trailing_stop_without_moving_it() -> None:
    config = trailing_method()
    position = open_position()
    watched = watch(position, config)
    watched.update_trailing(px(AAPL, "110.00"))
    assert watched.trailing is not None

    evaluate(config, position, "150.00", watched=watched)

    assert watched.trailing.peak_raw == px(AAPL, "110.00")
    assert watched.trailing.stop_raw == px(AAPL, "107.80")


def test_atr_trailing_stop_follows_the_atr_given_with_the_price() -> None:
    config = trailing_method(atr_multiple=Decimal("1.5"))
    position = open_position()
    watched = watch(position, config)

    assert watched.update_trailing(px(AAPL, "104.00")) is False  # no ATR yet: no stop
    assert evaluate(config, position, "50.00", watched=watched) == []

    assert watched.update_trailing(px(AAPL, "104.00"), px(AAPL, "2.00")) is True  # 104 - 3
    assert watched.update_trailing(px(AAPL, "103.00"), px(AAPL, "4.00")) is False  # would loosen

    assert reasons(evaluate(config, position, "101.00", watched=watched)) == [ExitReason.TRAILING_STOP]
    assert evaluate(config, position, "101.01", watched=watched) == []


def test_trailing_stop_trails_from_the_average_open_price() -> None:
    config = trailing_method(activation_pct=Decimal(10))
    position = open_position(quantity="1", price="100.00")
    trade(position, BUY, "1", "102.00")
    watched = watch(position, config)
    assert watched.trailing is not None

    assert watched.trailing.entry_raw == px(AAPL, "101.00")
    assert watched.update_trailing(px(AAPL, "111.09")) is False  # +9.99 % of 101
    assert watched.update_trailing(px(AAPL, "111.10")) is True  # +10 %


# -- expiry --------------------------------------------------------------------------------


EXPIRY_NS = 2_000_000 * SEC


def test_event_contract_exits_the_lead_time_before_expiry() -> None:
    contract = BinaryEventContract("FEDCUT-25DEC.KALSHI", expiry_ns=EXPIRY_NS)
    config = method(expiry_lead_seconds=Decimal(3600))
    position = open_position(contract, quantity="10", price="0.40")

    (signal,) = evaluate(config, position, "0.40", now_ns=EXPIRY_NS - 3600 * SEC)
    assert evaluate(config, position, "0.40", now_ns=EXPIRY_NS - 3600 * SEC - 1) == []

    assert signal.reason is ExitReason.EXPIRY
    assert signal.priority is ExitPriority.HIGH
    assert signal.detail == "3600s to expiry <= 3600s"
    late = evaluate(config, position, "0.40", now_ns=EXPIRY_NS + 5 * SEC)
    assert [s.detail for s in late] == ["expired 5s ago"]


def test_expiry_never_fires_for_an_instrument_without_expiry() -> None:
    config = method(expiry_lead_seconds=Decimal(3600))

    assert evaluate(config, open_position(event_contract(), price="0.40"), "0.40", now_ns=EXPIRY_NS) == []
    assert evaluate(config, open_position(), "100.00", now_ns=EXPIRY_NS) == []


def test_expiry_is_off_without_a_lead_time() -> None:
    contract = BinaryEventContract("FEDCUT-25DEC.KALSHI", expiry_ns=EXPIRY_NS)

    assert evaluate(method(), open_position(contract, price="0.40"), "0.40", now_ns=EXPIRY_NS + SEC) == []


# -- market close --------------------------------------------------------------------------


def ny_ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=NEW_YORK).timestamp()) * SEC


CLOSE_RULE = MarketCloseRule(time="16:00", timezone="America/New_York", lead_seconds=Decimal(300))


def test_equity_exits_the_lead_time_before_the_close() -> None:
    config = method(market_close=CLOSE_RULE)
    position = open_position()
    close = ny_ns(2024, 7, 10, 16, 0)  # a Wednesday, 20:00 UTC (daylight saving time)
    evaluator = ExitEvaluator(config)
    watched = watch(position, config)
    snapshot = MarketSnapshot(px(AAPL, "100.00"))

    assert evaluator.evaluate(watched, snapshot, ny_ns(2024, 7, 10, 10, 0)) == []
    assert evaluator.evaluate(watched, snapshot, close - 300 * SEC - 1) == []
    (signal,) = evaluator.evaluate(watched, snapshot, close - 300 * SEC)
    assert reasons(evaluator.evaluate(watched, snapshot, close - 1)) == [ExitReason.MARKET_CLOSE]
    assert evaluator.evaluate(watched, snapshot, close) == []  # the session is over
    # The next day's window, with the cached close moving on:
    assert reasons(evaluator.evaluate(watched, snapshot, ny_ns(2024, 7, 11, 15, 56))) == [
        ExitReason.MARKET_CLOSE
    ]

    assert signal.priority is ExitPriority.HIGH
    assert signal.detail == "300s to the 16:00 America/New_York close <= 300s"


def test_market_close_follows_the_time_zone_through_winter_time() -> None:
    config = method(market_close=CLOSE_RULE)
    close = ny_ns(2024, 1, 10, 16, 0)  # 21:00 UTC in winter
    assert close == int(datetime.fromisoformat("2024-01-10T21:00:00+00:00").timestamp()) * SEC

    assert reasons(evaluate(config, open_position(), "100.00", now_ns=close - 60 * SEC)) == [
        ExitReason.MARKET_CLOSE
    ]
    assert evaluate(config, open_position(), "100.00", now_ns=close - 60 * SEC - 3600 * SEC) == []


def test_market_close_has_no_session_at_the_weekend() -> None:
    config = method(market_close=CLOSE_RULE)

    assert evaluate(config, open_position(), "100.00", now_ns=ny_ns(2024, 7, 13, 15, 58)) == []  # Saturday
    assert evaluate(config, open_position(), "100.00", now_ns=ny_ns(2024, 7, 14, 15, 58)) == []  # Sunday


def test_market_close_applies_to_equities_only() -> None:
    config = method(market_close=CLOSE_RULE)
    now = ny_ns(2024, 7, 10, 15, 58)

    assert evaluate(config, open_position(ES, quantity="1", price="5000.00"), "5000.00", now_ns=now) == []
    assert reasons(evaluate(config, open_position(), "100.00", now_ns=now)) == [ExitReason.MARKET_CLOSE]


# -- liquidity -----------------------------------------------------------------------------


def test_liquidity_exit_fires_when_the_spread_reaches_the_maximum() -> None:
    config = method(max_spread_pct=Decimal(3))
    position = open_position()

    (signal,) = evaluate(config, position, "100.00", bid_raw=px(AAPL, "98.50"), ask_raw=px(AAPL, "101.50"))
    assert evaluate(config, position, "100.00", bid_raw=px(AAPL, "98.51"), ask_raw=px(AAPL, "101.50")) == []

    assert signal.reason is ExitReason.LIQUIDITY
    assert signal.priority is ExitPriority.HIGH
    assert signal.detail == "spread 3.00% >= 3%"


def test_liquidity_needs_both_sides_of_the_quote() -> None:
    config = method(max_spread_pct=Decimal(3))
    position = open_position()

    assert evaluate(config, position, "100.00", bid_raw=px(AAPL, "50.00")) == []
    assert evaluate(config, position, "100.00", ask_raw=px(AAPL, "150.00")) == []


# -- profit target and scale-outs ----------------------------------------------------------


def test_profit_target_closes_the_whole_long_at_the_target() -> None:
    config = method(profit_target=ProfitTarget(target_pct=Decimal(25)))
    position = open_position()

    (signal,) = evaluate(config, position, "125.00")
    assert evaluate(config, position, "124.99") == []

    assert signal.reason is ExitReason.PROFIT_TARGET
    assert signal.priority is ExitPriority.MEDIUM
    assert signal.quantity_raw == qty(AAPL, "10")
    assert signal.detail == "P&L 25.00% >= 25%"


def test_profit_target_of_a_short_is_a_fall_by_the_target() -> None:
    config = method(profit_target=ProfitTarget(target_pct=Decimal(25)))
    position = open_position(side=SELL)

    assert reasons(evaluate(config, position, "75.00")) == [ExitReason.PROFIT_TARGET]
    assert evaluate(config, position, "75.01") == []
    assert evaluate(config, position, "125.00") == []


def test_profit_target_of_an_event_contract() -> None:
    config = method(profit_target=ProfitTarget(target_pct=Decimal(25)))
    position = open_position(event_contract(), quantity="10", price="0.40")

    assert reasons(evaluate(config, position, "0.50")) == [ExitReason.PROFIT_TARGET]
    assert evaluate(config, position, "0.49") == []


SCALED = ProfitTarget(
    target_pct=Decimal(25),
    scale_out=(
        ScaleOutLevel(pnl_pct=Decimal(10), close_pct=Decimal(30)),
        ScaleOutLevel(pnl_pct=Decimal(20), close_pct=Decimal(25)),
    ),
)


def test_scale_out_levels_close_shares_of_the_peak_quantity() -> None:
    config = method(profit_target=SCALED)
    position = open_position()
    watched = watch(position, config)

    assert evaluate(config, position, "109.99", watched=watched) == []
    (first,) = evaluate(config, position, "110.00", watched=watched)
    assert first.reason is ExitReason.SCALE_OUT
    assert first.priority is ExitPriority.MEDIUM
    assert first.level == 0
    assert first.quantity_raw == qty(AAPL, "3")  # 30 % of 10
    assert first.detail == "P&L 10.00% >= 10%: scale-out level 0 closes 30% of peak 10"

    both = evaluate(config, position, "120.00", watched=watched)  # a gap past both levels
    assert [(s.reason, s.level, s.quantity_raw) for s in both] == [
        (ExitReason.SCALE_OUT, 0, qty(AAPL, "3")),
        (ExitReason.SCALE_OUT, 1, qty(AAPL, "2")),  # 25 % of 10 = 2.5, down to the lot grid
    ]


def test_each_scale_out_level_is_reported_until_the_caller_takes_it_and_never_after() -> None:
    config = method(profit_target=SCALED)
    position = open_position()
    watched = watch(position, config)

    assert [s.level for s in evaluate(config, position, "110.00", watched=watched)] == [0]
    assert [s.level for s in evaluate(config, position, "110.00", watched=watched)] == [0]  # not acted on

    watched.take_scale_out(0)
    trade(position, SELL, "3", "110.00")  # the caller's scale-out filled: 7 left, peak still 10

    assert evaluate(config, position, "115.00", watched=watched) == []
    (second,) = evaluate(config, position, "120.00", watched=watched)
    assert (second.level, second.quantity_raw) == (1, qty(AAPL, "2"))  # a share of the peak, not of 7
    watched.take_scale_out(1)
    assert evaluate(config, position, "124.99", watched=watched) == []
    assert watched.scale_outs_taken == frozenset({0, 1})


def test_full_profit_target_overrides_the_scale_outs() -> None:
    config = method(profit_target=SCALED)
    position = open_position()

    (signal,) = evaluate(config, position, "125.00")

    assert signal.reason is ExitReason.PROFIT_TARGET
    assert signal.quantity_raw == qty(AAPL, "10")


def test_scale_out_is_capped_at_the_open_quantity_and_skipped_when_below_one_lot() -> None:
    levels = ProfitTarget(
        target_pct=Decimal(50),
        scale_out=(
            ScaleOutLevel(pnl_pct=Decimal(10), close_pct=Decimal(50)),
            ScaleOutLevel(pnl_pct=Decimal(20), close_pct=Decimal(45)),
        ),
    )
    config = method(profit_target=levels)
    position = open_position()
    watched = watch(position, config)
    watched.take_scale_out(0)
    trade(position, SELL, "7", "110.00")  # 3 left of a peak of 10

    (capped,) = evaluate(config, position, "120.00", watched=watched)
    assert capped.quantity_raw == qty(AAPL, "3")  # 45 % of 10 is 4.5 -> 4, but only 3 are open

    single = open_position(quantity="1")  # 30 % of one share rounds down to nothing
    assert evaluate(config, single, "120.00") == []


def test_take_scale_out_refuses_a_level_the_method_does_not_have() -> None:
    watched = watch(open_position(), method(profit_target=SCALED))

    with pytest.raises(ValueRangeError, match="no scale-out level 2"):
        watched.take_scale_out(2)
    with pytest.raises(ValueRangeError, match="no scale-out level 0"):
        watch(open_position(), method()).take_scale_out(0)


# -- volatility ----------------------------------------------------------------------------


def test_volatility_exit_fires_at_the_configured_ratio() -> None:
    config = method(volatility=VolatilityRule(window=5, baseline_window=20, ratio=Decimal(3)))
    position = open_position()

    (signal,) = evaluate(config, position, "100.00", volatility_ratio=3.0)
    assert evaluate(config, position, "100.00", volatility_ratio=2.99) == []
    assert evaluate(config, position, "100.00") == []  # not warm yet

    assert signal.reason is ExitReason.VOLATILITY
    assert signal.priority is ExitPriority.MEDIUM
    assert signal.detail == "volatility ratio 3.00 >= 3"


def test_volatility_tracker_is_silent_until_the_baseline_is_full() -> None:
    tracker = VolatilityTracker(VolatilityRule(window=3, baseline_window=5))
    prices = [100, 101, 99, 102, 98, 103]  # 5 returns need 6 prices

    for price in prices[:-1]:
        tracker.update(px(AAPL, str(price)))
        assert tracker.ratio is None
    tracker.update(px(AAPL, str(prices[-1])))

    assert tracker.warm
    assert tracker.ratio is not None


def test_volatility_tracker_matches_the_sample_standard_deviations_over_a_long_series() -> None:
    rule = VolatilityRule(window=10, baseline_window=50)
    tracker = VolatilityTracker(rule)
    prices = [10_000 + round(300 * math.sin(i / 7) + 40 * math.sin(i * 1.3)) + i for i in range(1, 400)]
    prices += [prices[-1] + (600 if i % 2 else -600) for i in range(12)]  # a burst of volatility
    raws = [p * 10_000_000 for p in prices]  # cents, as raws

    for raw in raws:
        tracker.update(raw)

    returns = [(b - a) / a for a, b in itertools.pairwise(raws)]
    expected = statistics.stdev(returns[-10:]) / statistics.stdev(returns[-50:])
    assert tracker.ratio == pytest.approx(expected, rel=1e-9)
    assert tracker.ratio > 1.5  # the burst shows


def test_volatility_tracker_of_a_flat_market_has_no_ratio() -> None:
    tracker = VolatilityTracker(VolatilityRule(window=2, baseline_window=3))
    for _ in range(10):
        tracker.update(px(AAPL, "100.00"))

    assert tracker.warm
    assert tracker.ratio is None


# -- max holding and edge decay ------------------------------------------------------------


def test_max_holding_fires_after_the_holding_time() -> None:
    config = method(max_holding_seconds=Decimal(3600))
    position = open_position()

    (signal,) = evaluate(config, position, "100.00", now_ns=OPENED_NS + 3600 * SEC)
    assert evaluate(config, position, "100.00", now_ns=OPENED_NS + 3600 * SEC - 1) == []

    assert signal.reason is ExitReason.MAX_HOLDING
    assert signal.priority is ExitPriority.LOW
    assert signal.detail == "held 3600s >= 3600s"


def test_edge_decay_fires_when_the_edge_falls_below_the_threshold() -> None:
    config = method(edge_decay_pct=Decimal(2))
    position = open_position(event_contract(), price="0.40")

    (signal,) = evaluate(config, position, "0.40", edge=0.0199)
    assert evaluate(config, position, "0.40", edge=0.02) == []
    assert evaluate(config, position, "0.40") == []  # no edge known

    assert signal.reason is ExitReason.EDGE_DECAY
    assert signal.priority is ExitPriority.LOW
    assert signal.detail == "edge 1.99% < 2%"


# -- priorities ----------------------------------------------------------------------------


def test_stop_loss_outranks_max_holding_when_both_fire() -> None:
    config = method(stop_loss_pct=Decimal(15), max_holding_seconds=Decimal(60))

    signals = evaluate(config, open_position(), "80.00", now_ns=OPENED_NS + 120 * SEC)

    assert reasons(signals) == [ExitReason.STOP_LOSS, ExitReason.MAX_HOLDING]


def test_every_firing_condition_is_listed_by_priority_then_table_order() -> None:
    contract = BinaryEventContract("FEDCUT-25DEC.KALSHI", expiry_ns=EXPIRY_NS)
    config = method(
        profit_target=ProfitTarget(target_pct=Decimal(20)),
        max_spread_pct=Decimal(5),
        volatility=VolatilityRule(),
        max_holding_seconds=Decimal(1),
        edge_decay_pct=Decimal(1),
        expiry_lead_seconds=Decimal(60),
    )
    position = open_position(contract, price="0.40")

    signals = evaluate(
        config,
        position,
        "0.50",
        now_ns=EXPIRY_NS - 30 * SEC,
        bid_raw=px(contract, "0.45"),
        ask_raw=px(contract, "0.55"),
        volatility_ratio=10.0,
        edge=0.0,
    )

    assert reasons(signals) == [
        ExitReason.EXPIRY,
        ExitReason.LIQUIDITY,
        ExitReason.PROFIT_TARGET,
        ExitReason.VOLATILITY,
        ExitReason.MAX_HOLDING,
        ExitReason.EDGE_DECAY,
    ]
    assert [s.priority for s in signals] == sorted(s.priority for s in signals)


def test_rules_set_to_none_never_fire() -> None:
    config = method()  # every exit rule off

    signals = evaluate(
        config,
        open_position(),
        "1.00",
        now_ns=OPENED_NS + 10**6 * SEC,
        bid_raw=px(AAPL, "0.50"),
        ask_raw=px(AAPL, "2.00"),
        volatility_ratio=100.0,
        edge=-1.0,
    )

    assert signals == []


def test_a_position_closed_since_it_was_watched_gives_no_signals() -> None:
    config = method(stop_loss_pct=Decimal(15), max_holding_seconds=Decimal(1))
    position = open_position()
    watched = watch(position, config)
    trade(position, SELL, "10", "80.00")

    assert evaluate(config, position, "80.00", now_ns=OPENED_NS + 10 * SEC, watched=watched) == []


# -- P&L and the urgent band ---------------------------------------------------------------


def test_pnl_pct_is_of_the_cost_basis_for_longs_shorts_and_multipliers() -> None:
    config = method()

    assert watch(open_position(), config).pnl_pct(px(AAPL, "85.20")) == Decimal("-14.8")
    assert watch(open_position(side=SELL), config).pnl_pct(px(AAPL, "85.20")) == Decimal("14.8")
    future = watch(open_position(ES, quantity="3", price="5000.00"), config)
    assert future.pnl_pct(px(ES, "5012.50")) == Decimal("0.25")


def test_urgent_band_around_the_stop_loss_and_target_of_a_long() -> None:
    config = method(stop_loss_pct=Decimal(15), profit_target=ProfitTarget(target_pct=Decimal(25)))
    watched = watch(open_position(), config)  # stop 85.00, target 125.00, band 2 % of the mark

    def near(mark: str) -> bool:
        return watched.near_stop_or_target(px(AAPL, mark))

    assert near("86.70")  # 1.70 away, 2 % of 86.70 is 1.734
    assert not near("86.74")  # 1.74 away, 2 % is 1.7348
    assert near("84.00")  # past the stop
    assert not near("100.00")
    assert near("122.55")  # 2.45 away, 2 % is 2.451
    assert not near("122.54")  # 2.46 away, 2 % is 2.4508


def test_urgent_band_of_a_short_mirrors_the_levels() -> None:
    config = method(stop_loss_pct=Decimal(15), profit_target=ProfitTarget(target_pct=Decimal(25)))
    watched = watch(open_position(side=SELL), config)  # stop 115.00, target 75.00

    assert watched.near_stop_or_target(px(AAPL, "112.75"))  # 2.25 away, 2 % is 2.255
    assert not watched.near_stop_or_target(px(AAPL, "112.74"))
    assert watched.near_stop_or_target(px(AAPL, "76.53"))  # 1.53 away, 2 % is 1.5306
    assert not watched.near_stop_or_target(px(AAPL, "76.54"))  # 1.54 away, 2 % is 1.5308
    assert watched.near_stop_or_target(px(AAPL, "70.00"))  # past the target


def test_urgent_band_of_a_future_with_an_averaged_entry() -> None:
    config = method(stop_loss_pct=Decimal(10), urgent_band_pct=Decimal(1))
    position = open_position(ES, quantity="1", price="4990.00")
    trade(position, BUY, "1", "5010.00")  # average 5000: stop at 4500.00
    watched = watch(position, config)

    assert watched.near_stop_or_target(px(ES, "4545.00"))  # 45 away, 1 % is 45.45
    assert not watched.near_stop_or_target(px(ES, "4546.00"))  # 46 away, 1 % is 45.46


def test_urgent_band_around_the_trailing_stop() -> None:
    config = trailing_method()
    watched = watch(open_position(), config)
    assert not watched.near_stop_or_target(px(AAPL, "100.00"))  # no stop placed yet
    watched.update_trailing(px(AAPL, "110.00"))  # stop at 107.80

    assert watched.near_stop_or_target(px(AAPL, "110.00"))  # 2.20 away, 2 % is 2.20
    assert not watched.near_stop_or_target(px(AAPL, "110.01"))
    assert watched.near_stop_or_target(px(AAPL, "107.00"))  # past it


# -- validation ----------------------------------------------------------------------------


def test_exit_signal_refuses_inconsistent_fields() -> None:
    with pytest.raises(ValueRangeError, match="must be positive"):
        ExitSignal(ExitReason.STOP_LOSS, ExitPriority.CRITICAL, 0, "x")
    with pytest.raises(ValueRangeError, match="has priority CRITICAL, not LOW"):
        ExitSignal(ExitReason.STOP_LOSS, ExitPriority.LOW, 1, "x")
    with pytest.raises(ValueRangeError, match="level"):
        ExitSignal(ExitReason.SCALE_OUT, ExitPriority.MEDIUM, 1, "x")
    with pytest.raises(ValueRangeError, match="level"):
        ExitSignal(ExitReason.PROFIT_TARGET, ExitPriority.MEDIUM, 1, "x", level=0)


def test_a_flat_position_cannot_be_watched() -> None:
    position = open_position()
    trade(position, SELL, "10", "100.00")

    with pytest.raises(ValueRangeError, match="is flat"):
        watch(position, method())
