"""Circuit breakers: each trips on its condition, acts, alerts, and is reset as it should be."""

from __future__ import annotations

import msgspec
import pytest

from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import Lane
from tradeloop.model.commands import CancelOrder, FlattenAll
from tradeloop.model.events import (
    Alert,
    AlertSeverity,
    OrderDenied,
    OrderRejected,
    StoreErrorOccurred,
    VenueErrorOccurred,
)
from tradeloop.model.objects import Money
from tradeloop.risk import (
    BreakerConfig,
    CircuitBreakerReset,
    CircuitBreakers,
    CircuitBreakerTripped,
    ResetCircuitBreaker,
    RiskConfig,
    TradingAuthorized,
    TradingBlocked,
    TradingState,
    TradingStateChanged,
)
from tradeloop.venues.simulated import FaultConfig, SimulatedVenueConfig

from .rig import BUY, SELL, Rig

# -- helpers ---------------------------------------------------------------------------------


def venue_error(rig: Rig, error: str = "HTTP 502") -> None:
    now = rig.clock.timestamp_ns()
    rig.bus.publish(
        VenueErrorOccurred(
            id=rig.ids.new_id(),
            correlation_id=rig.ids.new_id(),
            ts_event=now,
            ts_init=now,
            venue="XNAS",
            operation="submit_order",
            error=error,
        )
    )


def store_error(rig: Rig) -> None:
    now = rig.clock.timestamp_ns()
    rig.bus.publish(
        StoreErrorOccurred(
            id=rig.ids.new_id(),
            correlation_id=rig.ids.new_id(),
            ts_event=now,
            ts_init=now,
            operation="append",
            error="disk I/O error",
        )
    )


def reset_command(rig: Rig, breaker: str, reason: str) -> ResetCircuitBreaker:
    now = rig.clock.timestamp_ns()
    command = ResetCircuitBreaker(
        id=rig.ids.new_id(),
        correlation_id=rig.ids.new_id(),
        ts_event=now,
        ts_init=now,
        breaker=breaker,
        reason=reason,
    )
    rig.bus.publish(command)
    return command


def breakers_of(rig: Rig) -> CircuitBreakers:
    assert rig.breakers is not None
    return rig.breakers


# -- the kill switch -------------------------------------------------------------------------


def test_kill_switch_flattens_alerts_blocks_entries_and_lets_exits_through() -> None:
    rig = Rig()
    rig.hold(rig.aapl, BUY, "100", "100.00")

    assert breakers_of(rig).kill("operator saw a runaway strategy") is True

    [tripped] = rig.of(CircuitBreakerTripped)
    assert (tripped.breaker, tripped.action) == ("kill_switch", "flatten")
    [flatten] = rig.of(FlattenAll)
    assert flatten.source == "kill_switch"
    assert flatten.reason == "kill_switch: operator saw a runaway strategy"
    assert flatten.correlation_id == tripped.correlation_id
    [alert] = rig.of(Alert)
    assert (alert.severity, alert.source, alert.kind) == (
        AlertSeverity.CRITICAL,
        "circuit_breakers",
        "breaker_tripped",
    )
    assert "kill_switch" in alert.message
    assert "operator saw a runaway strategy" in alert.message
    [blocked] = rig.of(TradingBlocked)
    assert (blocked.instrument_id, blocked.source) == (None, "kill_switch")
    assert rig.state is TradingState.REDUCING

    entry = rig.market(rig.es, BUY, "1")
    partial_exit = rig.market(rig.aapl, SELL, "40")
    reduce_only = rig.market(rig.aapl, SELL, "60", reduce_only=True)

    assert not rig.reached_venue(entry)
    assert rig.denials() == [
        "trading_state: trading state REDUCING (kill_switch: operator saw a runaway strategy); BUY 1 "
        "would not reduce the net position 0 on ESZ4.CME"
    ]
    assert rig.reached_venue(reduce_only)
    assert rig.reached_venue(partial_exit)


def test_kill_switch_rides_the_critical_lane_ahead_of_queued_orders() -> None:
    assert CircuitBreakerTripped.LANE is Lane.CRITICAL
    assert ResetCircuitBreaker.LANE is Lane.CRITICAL
    assert FlattenAll.LANE is Lane.CRITICAL


def test_kill_switch_waits_for_a_person_and_a_reset_command_reopens_trading() -> None:
    rig = Rig()
    breakers_of(rig).kill("panic")
    assert breakers_of(rig).kill("panic again") is False  # already tripped: no second flatten

    rig.advance(2 * 86_400)  # days pass: nothing lifts it on its own
    rig.trade(rig.aapl, "100.00")
    denied = rig.market(rig.aapl, BUY, "1")
    assert rig.status(denied) == "DENIED"

    command = reset_command(rig, "kill_switch", "checked by the desk")
    entry = rig.market(rig.aapl, BUY, "1")

    assert len(rig.of(FlattenAll)) == 1
    [reset] = rig.of(CircuitBreakerReset)
    assert (reset.breaker, reset.reason, reset.causation_id) == (
        "kill_switch",
        "checked by the desk",
        command.id,
    )
    [authorized] = rig.of(TradingAuthorized)
    assert (authorized.instrument_id, authorized.source, authorized.blocked_by) == (None, "kill_switch", ())
    assert rig.state is TradingState.ACTIVE
    assert [c.state for c in rig.of(TradingStateChanged)] == [TradingState.REDUCING, TradingState.ACTIVE]
    assert rig.reached_venue(entry)
    assert breakers_of(rig).tripped == {}


def test_flattening_breaker_cancels_working_entries_but_not_the_exits() -> None:
    rig = Rig()
    rig.hold(rig.aapl, BUY, "100", "100.00")
    rig.trade(rig.es, "5000.00")
    entry_more = rig.limit(rig.aapl, BUY, "10", "95.00")
    take_profit = rig.limit(rig.aapl, SELL, "100", "110.00")
    new_entry = rig.limit(rig.es, BUY, "1", "4990.00")

    breakers_of(rig).kill("flatten now")

    canceled = {c.client_order_id for c in rig.of(CancelOrder)}
    assert canceled == {entry_more.order.client_order_id, new_entry.order.client_order_id}
    assert {c.client_order_id for c in rig.venues["XNAS"].canceled} == {entry_more.order.client_order_id}
    assert {c.client_order_id for c in rig.venues["CME"].canceled} == {new_entry.order.client_order_id}
    assert rig.status(take_profit) == "SUBMITTED"


def test_kill_switch_needs_a_reason() -> None:
    rig = Rig()
    with pytest.raises(TradeloopError, match="needs a reason"):
        breakers_of(rig).kill("")


# -- venue errors ----------------------------------------------------------------------------


def test_venue_errors_above_the_rate_pause_entries_but_keep_exits_and_state_active() -> None:
    rig = Rig()
    rig.hold(rig.aapl, BUY, "100", "100.00")
    for _ in range(5):
        venue_error(rig)
        rig.advance(10)
    assert rig.of(CircuitBreakerTripped) == []  # five in five minutes is the limit, not past it

    venue_error(rig, "HTTP 503")

    [tripped] = rig.of(CircuitBreakerTripped)
    assert (tripped.breaker, tripped.action) == ("venue_errors", "pause_entries")
    assert tripped.reason == ("6 venue errors in the last 300 s > 5 (last: XNAS submit_order: HTTP 503)")
    assert rig.of(FlattenAll) == []
    assert rig.state is TradingState.ACTIVE
    [blocked] = rig.of(TradingBlocked)
    assert (blocked.instrument_id, blocked.source) == (None, "breaker:venue_errors")
    assert len(rig.of(Alert)) == 1

    entry = rig.market(rig.aapl, BUY, "10")
    exit_order = rig.market(rig.aapl, SELL, "50")
    assert rig.denials() == [
        "trading_authorisation: AAPL.XNAS blocked (breaker:venue_errors: 6 venue errors in the last "
        "300 s > 5 (last: XNAS submit_order: HTTP 503))"
    ]
    assert not rig.reached_venue(entry)
    assert rig.reached_venue(exit_order)
    assert rig.risk.entry_problem(rig.es.id, BUY) is not None


def test_venue_error_breaker_resumes_on_the_clock_once_the_rate_clears_and_ignores_a_manual_reset() -> None:
    rig = Rig()
    rig.trade(rig.aapl, "100.00")
    first_error_at = rig.clock.timestamp_ns()
    for _ in range(6):
        venue_error(rig)
        rig.advance(1)
    assert breakers_of(rig).is_tripped("venue_errors")
    assert breakers_of(rig).reset("venue_errors", "operator") == []  # it resets on its own

    rig.advance(300 - 7)  # the first error is still in the window
    assert breakers_of(rig).is_tripped("venue_errors")
    assert rig.risk.entry_problem(rig.aapl.id, BUY) is not None

    rig.advance(1)  # the first error leaves the window: five remain, the limit

    [reset] = rig.of(CircuitBreakerReset)
    assert reset.breaker == "venue_errors"
    assert reset.reason == "error rate cleared: 5 venue errors in the last 300 s"
    assert rig.clock.timestamp_ns() == first_error_at + 300 * 1_000_000_000
    [authorized] = rig.of(TradingAuthorized)
    assert (authorized.source, authorized.blocked_by) == ("breaker:venue_errors", ())
    assert rig.risk.entry_problem(rig.aapl.id, BUY) is None
    assert rig.reached_venue(rig.market(rig.aapl, BUY, "1"))


def test_venue_error_breaker_keeps_entries_paused_while_errors_keep_coming() -> None:
    rig = Rig(RiskConfig(breakers=BreakerConfig(venue_errors={"max_errors": 2, "window_seconds": 60})))
    for _ in range(3):
        venue_error(rig)
        rig.advance(15)
    assert breakers_of(rig).is_tripped("venue_errors")

    for _ in range(8):  # one error every 15 s keeps three in every 60 s window
        venue_error(rig)
        rig.advance(15)
    assert breakers_of(rig).is_tripped("venue_errors")
    assert rig.of(CircuitBreakerReset) == []

    rig.advance(60)  # errors stopped: the window drains to the limit
    assert [r.breaker for r in rig.of(CircuitBreakerReset)] == ["venue_errors"]
    assert len(rig.of(CircuitBreakerTripped)) == 1


def test_disabled_venue_error_breaker_ignores_errors() -> None:
    rig = Rig(RiskConfig(breakers=BreakerConfig(venue_errors={"enabled": False})))
    for _ in range(20):
        venue_error(rig)

    assert rig.of(CircuitBreakerTripped) == []


def test_api_errors_of_the_simulated_venue_trip_the_breaker_and_pause_entries() -> None:
    rig = Rig(
        simulated_xnas=SimulatedVenueConfig(
            starting_balances=Money.from_str("100000", "USD"),
            faults=FaultConfig(api_error_probability=1.0),
        )
    )
    rig.trade(rig.aapl, "100.00")
    for _ in range(6):
        rig.market(rig.aapl, BUY, "1")

    assert len(rig.of(VenueErrorOccurred)) == 6
    assert [r.reason.partition(":")[0] for r in rig.of(OrderRejected)] == ["venue error"] * 6
    assert breakers_of(rig).is_tripped("venue_errors")
    rig.market(rig.aapl, BUY, "1")
    assert rig.of(OrderDenied)[-1].reason.startswith("trading_authorisation: AAPL.XNAS blocked")
    assert len(rig.of(VenueErrorOccurred)) == 6  # the denied order never reached the venue


# -- store errors ----------------------------------------------------------------------------


def test_store_errors_above_the_rate_halt_trading_without_flattening_until_reset() -> None:
    rig = Rig()
    rig.hold(rig.aapl, BUY, "100", "100.00")
    resting = rig.limit(rig.aapl, SELL, "100", "120.00")
    for _ in range(4):
        store_error(rig)
        rig.advance(5)

    [tripped] = rig.of(CircuitBreakerTripped)
    assert (tripped.breaker, tripped.action) == ("store_errors", "halt")
    assert tripped.reason == "4 store errors in the last 60 s > 3 (last: append: disk I/O error)"
    assert rig.state is TradingState.HALTED
    assert rig.of(FlattenAll) == []
    assert rig.of(CancelOrder) == []

    exit_order = rig.market(rig.aapl, SELL, "100", reduce_only=True)
    assert not rig.reached_venue(exit_order)
    assert rig.denials()[-1].startswith("trading_state: HALTED (store_errors: 4 store errors")
    now = rig.clock.timestamp_ns()
    cancel = CancelOrder(
        id="c-1",
        correlation_id="c-1",
        ts_event=now,
        ts_init=now,
        strategy_id=resting.strategy_id,
        instrument_id=resting.instrument_id,
        client_order_id=resting.order.client_order_id,
    )
    rig.bus.publish(cancel)
    assert rig.venues["XNAS"].canceled == [cancel]

    rig.advance(3_600)
    assert rig.state is TradingState.HALTED  # no automatic resume

    assert breakers_of(rig).reset("store_errors", "disk replaced") == ["store_errors"]
    assert rig.state is TradingState.ACTIVE
    assert rig.reached_venue(rig.market(rig.aapl, SELL, "10"))


def test_store_errors_spread_wider_than_the_window_do_not_trip() -> None:
    rig = Rig()
    for _ in range(10):
        store_error(rig)
        rig.advance(21)  # at most three within any 60 s

    assert rig.of(CircuitBreakerTripped) == []
    assert rig.state is TradingState.ACTIVE


def test_a_reset_keeps_the_state_other_tripped_breakers_hold() -> None:
    rig = Rig()
    breakers_of(rig).kill("panic")
    for _ in range(4):
        store_error(rig)
    assert rig.state is TradingState.HALTED

    breakers_of(rig).reset("store_errors", "store ok")
    assert rig.state is TradingState.REDUCING
    assert rig.risk.trading_state_reason == "kill_switch: panic"
    assert rig.risk.entry_problem(rig.aapl.id, BUY) == (
        "trading_state: trading state REDUCING (kill_switch: panic); no new positions"
    )
    assert rig.of(TradingAuthorized)[-1].blocked_by == ("kill_switch",)

    assert breakers_of(rig).reset("*", "all clear") == ["kill_switch"]
    assert rig.state is TradingState.ACTIVE
    assert rig.risk.entry_problem(rig.aapl.id, BUY) is None


def test_an_operator_state_change_does_not_lift_a_breaker_hold() -> None:
    rig = Rig()
    breakers_of(rig).kill("panic")

    assert rig.risk.set_trading_state(TradingState.ACTIVE, "operator override") is False
    assert rig.state is TradingState.REDUCING


def test_reset_names_an_unknown_breaker() -> None:
    rig = Rig()
    with pytest.raises(TradeloopError, match="unknown circuit breaker 'kill'; known: daily_loss"):
        breakers_of(rig).reset("kill", "typo")
    with pytest.raises(TradeloopError, match="needs a reason"):
        breakers_of(rig).reset("kill_switch", "")
    assert breakers_of(rig).reset("kill_switch", "not tripped") == []
    assert rig.of(CircuitBreakerReset) == []


# -- daily loss ------------------------------------------------------------------------------


def test_daily_loss_with_flatten_latches_reducing_across_days_until_a_manual_reset() -> None:
    rig = Rig(RiskConfig(max_daily_loss=1_000, breakers=BreakerConfig(daily_loss_flatten=True)))
    rig.hold(rig.aapl, BUY, "100", "100.00")
    rig.trade(rig.aapl, "89.00")  # a loss of 1,100 today

    entry = rig.market(rig.aapl, BUY, "10")

    assert rig.status(entry) == "DENIED"
    [tripped] = rig.of(CircuitBreakerTripped)
    assert (tripped.breaker, tripped.action) == ("daily_loss", "flatten")
    assert tripped.reason == "max_daily_loss: daily loss 1100.00 USD reached the limit 1000.00 USD"
    [flatten] = rig.of(FlattenAll)
    assert flatten.source == "breaker:daily_loss"

    rig.advance(86_400)
    rig.trade(rig.aapl, "89.00")  # a new day: without the breaker trading would resume here
    next_day = rig.market(rig.aapl, BUY, "10")
    assert rig.status(next_day) == "DENIED"
    assert rig.denials()[-1].startswith("max_daily_loss: trading state REDUCING (daily_loss: max_daily_loss")
    assert rig.state is TradingState.REDUCING

    breakers_of(rig).reset("daily_loss", "reviewed the losses")
    after_reset = rig.market(rig.aapl, BUY, "10")
    assert rig.reached_venue(after_reset)
    assert rig.state is TradingState.ACTIVE
    assert rig.risk.denied_by_check() == {"max_daily_loss": 2}


def test_daily_loss_without_flatten_keeps_the_engine_behaviour() -> None:
    rig = Rig(RiskConfig(max_daily_loss=1_000))
    rig.hold(rig.aapl, BUY, "100", "100.00")
    rig.trade(rig.aapl, "89.00")
    rig.market(rig.aapl, BUY, "10")
    assert rig.state is TradingState.REDUCING

    rig.advance(86_400)
    rig.trade(rig.aapl, "89.00")
    entry = rig.market(rig.aapl, BUY, "10")

    assert rig.of(CircuitBreakerTripped) == []
    assert rig.of(FlattenAll) == []
    assert rig.reached_venue(entry)


# -- risk breach -----------------------------------------------------------------------------


def test_drawdown_past_the_limit_found_by_the_check_timer_flattens_and_waits_for_a_person() -> None:
    config = RiskConfig(
        max_drawdown_pct=5,
        breakers=BreakerConfig(risk_breach={"check_interval_seconds": 60}),
    )
    rig = Rig(config)
    rig.hold(rig.aapl, BUY, "500", "100.00")
    rig.trade(rig.aapl, "95.00")  # 2,500 of 100,000: 2.5 %
    rig.advance(60)
    assert rig.of(CircuitBreakerTripped) == []

    rig.trade(rig.aapl, "88.00")  # 6,000: 6 %, with no fill to notice it
    rig.advance(60)

    [tripped] = rig.of(CircuitBreakerTripped)
    assert (tripped.breaker, tripped.action) == ("risk_breach", "flatten")
    assert tripped.reason == (
        "max_drawdown_pct: drawdown 6.00% (6000.00 USD from the peak 100000.00 USD) > 5%"
    )
    [flatten] = rig.of(FlattenAll)
    assert flatten.source == "risk_breach"
    assert rig.of(TradingBlocked)[-1].source == "risk_breach"
    assert rig.state is TradingState.REDUCING
    assert rig.reached_venue(rig.market(rig.aapl, SELL, "500", reduce_only=True))

    breakers_of(rig).reset("risk_breach", "reviewed")
    rig.trade(rig.aapl, "87.00")  # 500 (0.5 %) below the equity at the reset, 6.5 % below the peak
    rig.advance(60)
    assert len(rig.of(CircuitBreakerTripped)) == 1  # measured from the reset, not the old peak
    rig.trade(rig.aapl, "82.00")  # 3,000 (3.2 %) below the equity at the reset
    rig.advance(60)
    assert len(rig.of(CircuitBreakerTripped)) == 1
    rig.trade(rig.aapl, "78.00")  # 5,000 (5.3 %) below it
    rig.advance(60)
    assert len(rig.of(CircuitBreakerTripped)) == 2


def test_position_above_its_limit_after_a_fill_is_a_risk_breach() -> None:
    rig = Rig(RiskConfig(max_position_quantity=100))
    rig.hold(rig.aapl, BUY, "80", "100.00")
    rig.risk.update_config(RiskConfig(max_position_quantity=50))  # the limit was lowered
    assert rig.of(CircuitBreakerTripped) == []  # nothing seen until the next fill

    rig.hold(rig.es, BUY, "1", "5000.00")

    [tripped] = rig.of(CircuitBreakerTripped)
    assert tripped.reason == "max_position_quantity: net position 80 > 50 on AAPL.XNAS"
    assert tripped.causation_id is not None


def test_value_limits_allow_the_configured_tolerance_before_a_breach() -> None:
    config = RiskConfig(
        max_gross_exposure=50_000, breakers=BreakerConfig(risk_breach={"value_tolerance_pct": 10})
    )
    rig = Rig(config)
    rig.hold(rig.aapl, BUY, "400", "100.00")
    rig.trade(rig.aapl, "137.50")  # 55,000: exactly the limit plus 10 %

    assert breakers_of(rig).check_risk_breach() is None

    rig.trade(rig.aapl, "137.51")
    assert breakers_of(rig).check_risk_breach() == (
        "max_gross_exposure: gross exposure 55004.00 USD > 50000.00 USD (+10% tolerance)"
    )
    assert breakers_of(rig).is_tripped("risk_breach")


def test_risk_breach_check_can_be_disabled_and_is_skipped_under_bypass() -> None:
    off = Rig(RiskConfig(max_drawdown_pct=1, breakers=BreakerConfig(risk_breach={"enabled": False})))
    off.hold(off.aapl, BUY, "500", "100.00")
    off.trade(off.aapl, "50.00")
    assert breakers_of(off).check_risk_breach() is None

    bypass = Rig(RiskConfig(max_drawdown_pct=1, bypass=True))
    bypass.hold(bypass.aapl, BUY, "500", "100.00")
    bypass.trade(bypass.aapl, "50.00")
    assert breakers_of(bypass).check_risk_breach() is None
    assert bypass.of(CircuitBreakerTripped) == []


# -- config and messages ---------------------------------------------------------------------


def test_breakers_follow_the_risk_engine_config_unless_given_their_own() -> None:
    rig = Rig()
    rig.risk.update_config(RiskConfig(breakers=BreakerConfig(store_errors={"max_errors": 1})))
    store_error(rig)
    store_error(rig)
    assert breakers_of(rig).is_tripped("store_errors")

    own = Rig(breakers=False)
    fixed = CircuitBreakers(
        own.bus,
        own.clock,
        own.ids,
        own.risk,
        own.portfolio,
        own.execution,
        BreakerConfig(store_errors={"enabled": False}),
    )
    for _ in range(10):
        store_error(own)
    assert fixed.config.store_errors.enabled is False
    assert fixed.tripped == {}


def test_breaker_messages_survive_an_encode_decode_round_trip() -> None:
    rig = Rig()
    breakers_of(rig).kill("panic")
    reset_command(rig, "kill_switch", "ok")

    for kind in (
        CircuitBreakerTripped,
        CircuitBreakerReset,
        ResetCircuitBreaker,
        TradingBlocked,
        TradingAuthorized,
    ):
        [message] = rig.of(kind)
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(message), type=kind) == message
    assert rig.failures == []
