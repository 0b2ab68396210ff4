"""The injected API-error fault: a submit call that fails is reported and the order rejected."""

from __future__ import annotations

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.model import Money, OrderRejected, VenueErrorOccurred
from tradeloop.venues.simulated import FaultConfig, LatencyModel, SimulatedVenueConfig


def _faulty(**faults) -> SimulatedVenueConfig:
    return SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"), faults=FaultConfig(**faults)
    )


def _venue_errors(sim) -> list[VenueErrorOccurred]:
    errors: list[VenueErrorOccurred] = []
    sim.bus.subscribe(VenueErrorOccurred, errors.append)
    return errors


def test_api_error_reports_a_venue_error_and_rejects_the_order_so_it_is_not_left_hanging(make_sim):
    sim = make_sim(config=_faulty(api_error_probability=1.0))
    errors = _venue_errors(sim)
    sim.bar("100.00", "100.00", "100.00", "100.00")

    coid = sim.submit("BUY", 1)

    [error] = errors
    [command] = sim.commands.values()
    assert (error.venue, error.operation) == ("SIM", "submit_order")
    assert "simulated API error" in error.error
    assert (error.correlation_id, error.causation_id) == (command.correlation_id, command.id)
    assert sim.kinds(coid) == ["OrderRejected"]
    [rejected] = sim.of(OrderRejected, coid)
    assert rejected.reason == f"venue error: {error.error}"
    assert sim.orders[coid].status.value == "REJECTED"
    assert sim.venue.open_orders() == []


def test_api_error_comes_after_the_latency_like_any_answer_of_the_venue(make_sim):
    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"),
        faults=FaultConfig(api_error_probability=1.0),
        latency_model=LatencyModel(base_ns=5_000_000),
    )
    sim = make_sim(config=config)
    errors = _venue_errors(sim)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sent_at = sim.clock.timestamp_ns()

    coid = sim.submit("BUY", 1)
    assert errors == []
    assert sim.kinds(coid) == []
    sim.bar("100.00", "100.00", "100.00", "100.00")

    [error] = errors
    assert error.ts_event == sent_at + 5_000_000
    assert sim.kinds(coid) == ["OrderRejected"]


def _outcome(sim, coid: str) -> str:
    rejections = sim.of(OrderRejected, coid)
    if not rejections:
        return "accepted"
    return "error" if rejections[0].reason.startswith("venue error") else "rejected"


def _error_pattern(make_sim, seed: int, **faults) -> list[str]:
    sim = make_sim(config=_faulty(api_error_probability=0.5, seed=seed, **faults))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    return [_outcome(sim, sim.submit("BUY", 1, "LIMIT", price="90.00")) for _ in range(40)]


def test_api_errors_are_repeatable_for_a_seed(make_sim):
    pattern = _error_pattern(make_sim, seed=3)

    assert pattern == _error_pattern(make_sim, seed=3)
    assert 5 < pattern.count("error") < 35
    assert pattern != _error_pattern(make_sim, seed=4)


def test_api_errors_do_not_shift_which_orders_random_rejection_picks(make_sim):
    # Each fault draws from its own generator: with both on, an order that reaches the checks
    # is rejected exactly when it would have been with random rejection alone.
    alone = make_sim(config=_faulty(reject_probability=0.5, seed=9))
    alone.bar("100.00", "100.00", "100.00", "100.00")
    alone_outcomes = [_outcome(alone, alone.submit("BUY", 1, "LIMIT", price="90.00")) for _ in range(40)]

    both = _error_pattern(make_sim, seed=9, reject_probability=0.5)

    reached = [outcome for outcome in both if outcome != "error"]
    assert "error" in both
    assert "rejected" in reached
    assert reached == alone_outcomes[: len(reached)]


@pytest.mark.parametrize("value", [-0.1, 1.5, True, "0.5"])
def test_api_error_probability_must_be_between_0_and_1(value) -> None:
    with pytest.raises(ConfigError, match=r"faults\.api_error_probability"):
        FaultConfig(api_error_probability=value)
