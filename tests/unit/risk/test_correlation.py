"""The correlated-exposure limit: rolling correlation of returns, refusal past the limit."""

from __future__ import annotations

import random
import re
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tradeloop.model.instruments import Equity
from tradeloop.risk import CorrelationConfig, CorrelationTracker, RiskConfig

from .rig import BUY, SELL, Rig

MINUTE = 60


def correlation_config(**overrides: object) -> CorrelationConfig:
    settings: dict[str, object] = {"window": 20, "threshold": "0.7", "max_correlated_exposure": 15_000}
    settings.update(overrides)
    return CorrelationConfig.model_validate(settings)


def synthetic_paths(steps: int, seed: int = 7) -> dict[str, list[str]]:
    """AAPL and MSFT move together (MSFT = AAPL's return plus a little noise); XOM on its own."""
    rng = random.Random(seed)
    prices = {"AAPL": 100.0, "MSFT": 100.0, "XOM": 100.0}
    paths: dict[str, list[str]] = {name: [] for name in prices}
    for _ in range(steps):
        market = rng.gauss(0, 0.01)
        moves = {"AAPL": market, "MSFT": market + rng.gauss(0, 0.002), "XOM": rng.gauss(0, 0.01)}
        for name, move in moves.items():
            prices[name] = round(prices[name] * (1 + move), 2)
            paths[name].append(f"{prices[name]:.2f}")
    return paths


def feed_bars(rig: Rig, steps: int) -> None:
    paths = synthetic_paths(steps)
    instruments = {"AAPL": rig.aapl, "MSFT": rig.msft, "XOM": rig.xom}
    for i in range(steps):
        rig.advance(MINUTE)
        for name, instrument in instruments.items():
            rig.bar(instrument, paths[name][i])


def tracker_of(rig: Rig) -> CorrelationTracker:
    tracker = rig.risk.correlation
    assert tracker is not None
    return tracker


DENIAL = re.compile(
    r"max_correlated_exposure: correlated exposure would be (?P<total>[\d.]+) USD "
    r"\(MSFT\.XNAS (?P<own>[\d.]+) USD after the order, AAPL\.XNAS (?P<other>[\d.]+) USD at correlation "
    r"(?P<corr>0\.\d\d)\) > 15000\.00 USD"
)


def test_a_new_position_in_a_correlated_instrument_is_refused_and_an_uncorrelated_one_allowed() -> None:
    rig = Rig(RiskConfig(correlation=correlation_config()))
    feed_bars(rig, 25)
    tracker = tracker_of(rig)
    corr_msft = tracker.correlation(rig.aapl.id, rig.msft.id)
    corr_xom = tracker.correlation(rig.aapl.id, rig.xom.id)
    assert corr_msft is not None
    assert corr_msft > 0.9
    assert corr_xom is not None
    assert abs(corr_xom) < 0.5

    rig.hold(rig.aapl, BUY, "100", rig.portfolio.last_price(rig.aapl.id).as_decimal())  # type: ignore[union-attr]
    correlated = rig.market(rig.msft, BUY, "100")
    uncorrelated = rig.market(rig.xom, BUY, "100")

    assert not rig.reached_venue(correlated)
    [reason] = rig.denials()
    match = DENIAL.fullmatch(reason)
    assert match is not None, reason
    own = Decimal(match["own"])
    other = Decimal(match["other"])
    assert Decimal(match["total"]) == own + other
    assert other == Decimal(rig.portfolio.exposure_raw(rig.aapl.id)) / 10**9
    assert own == rig.portfolio.last_price(rig.msft.id).as_decimal() * 100  # type: ignore[union-attr]
    assert rig.reached_venue(uncorrelated)
    assert rig.risk.denied_by_check() == {"max_correlated_exposure": 1}


def test_a_position_within_the_limit_passes_even_when_correlated() -> None:
    rig = Rig(RiskConfig(correlation=correlation_config(max_correlated_exposure=25_000)))
    feed_bars(rig, 25)
    rig.hold(rig.aapl, BUY, "100", rig.portfolio.last_price(rig.aapl.id).as_decimal())  # type: ignore[union-attr]

    assert rig.reached_venue(rig.market(rig.msft, BUY, "100"))


def test_direction_does_not_matter_a_short_in_a_correlated_instrument_counts_in_full() -> None:
    rig = Rig(RiskConfig(correlation=correlation_config()))
    feed_bars(rig, 25)
    rig.hold(rig.aapl, BUY, "100", rig.portfolio.last_price(rig.aapl.id).as_decimal())  # type: ignore[union-attr]

    short = rig.market(rig.msft, SELL, "100")

    assert not rig.reached_venue(short)
    assert rig.denials()[0].startswith("max_correlated_exposure: ")


def test_correlation_is_unknown_and_nothing_is_refused_until_half_the_window_is_sampled() -> None:
    rig = Rig(RiskConfig(correlation=correlation_config()))
    feed_bars(rig, 10)  # nine returns each: fewer than half of 20
    assert tracker_of(rig).correlation(rig.aapl.id, rig.msft.id) is None

    rig.hold(rig.aapl, BUY, "100", rig.portfolio.last_price(rig.aapl.id).as_decimal())  # type: ignore[union-attr]
    assert rig.reached_venue(rig.market(rig.msft, BUY, "100"))

    feed_bars(rig, 2)  # eleven returns now
    assert tracker_of(rig).correlation(rig.aapl.id, rig.msft.id) is not None


def test_timer_sampling_reads_the_latest_prices_on_the_simulated_clock() -> None:
    rig = Rig(RiskConfig(correlation=correlation_config(sample_seconds=60)))
    paths = synthetic_paths(25)
    for i in range(25):
        for name, instrument in (("AAPL", rig.aapl), ("MSFT", rig.msft), ("XOM", rig.xom)):
            rig.trade(instrument, paths[name][i])
        rig.advance(30)  # a trade mid-interval: the timer samples the mark it left
        rig.advance(30)
    tracker = tracker_of(rig)

    assert len(tracker.returns(rig.aapl.id)) == 20
    assert [ts for ts, _ in tracker.returns(rig.aapl.id)] == [ts for ts, _ in tracker.returns(rig.xom.id)]
    assert (tracker.correlation(rig.aapl.id, rig.msft.id) or 0) > 0.9
    rig.hold(rig.aapl, BUY, "100", paths["AAPL"][-1])
    assert not rig.reached_venue(rig.market(rig.msft, BUY, "100"))
    assert rig.reached_venue(rig.market(rig.xom, BUY, "100"))


def test_reducing_orders_are_never_refused_by_the_correlation_limit() -> None:
    rig = Rig(RiskConfig(correlation=correlation_config(max_correlated_exposure=50_000)))
    feed_bars(rig, 25)
    price = rig.portfolio.last_price(rig.aapl.id).as_decimal()  # type: ignore[union-attr]
    rig.hold(rig.aapl, BUY, "100", price)
    rig.hold(rig.msft, BUY, "100", rig.portfolio.last_price(rig.msft.id).as_decimal())  # type: ignore[union-attr]
    rig.risk.update_config(RiskConfig(correlation=correlation_config(max_correlated_exposure=5_000)))

    growing = rig.market(rig.aapl, BUY, "1")
    reducing = rig.market(rig.aapl, SELL, "50")

    assert not rig.reached_venue(growing)
    assert rig.reached_venue(reducing)


def test_entry_problem_reports_correlated_exposure_already_at_the_limit() -> None:
    rig = Rig(RiskConfig(correlation=correlation_config(max_correlated_exposure=9_000)))
    feed_bars(rig, 25)
    rig.risk.update_config(RiskConfig(correlation=correlation_config(max_correlated_exposure=50_000)))
    rig.hold(rig.aapl, BUY, "100", rig.portfolio.last_price(rig.aapl.id).as_decimal())  # type: ignore[union-attr]
    rig.risk.update_config(RiskConfig(correlation=correlation_config(max_correlated_exposure=9_000)))

    problem = rig.risk.entry_problem(rig.msft.id, BUY)

    assert problem is not None
    assert problem.startswith("max_correlated_exposure: correlated exposure of MSFT.XNAS is already ")
    assert problem.endswith("at the limit 9000.00 USD")
    assert "AAPL.XNAS" in problem
    assert rig.risk.entry_problem(rig.xom.id, BUY) is None


def test_update_config_keeps_the_history_unless_the_sampling_changes() -> None:
    rig = Rig(RiskConfig(correlation=correlation_config()))
    feed_bars(rig, 25)
    before = tracker_of(rig)

    rig.risk.update_config(RiskConfig(correlation=correlation_config(threshold="0.9")))
    assert tracker_of(rig) is before
    assert rig.risk.limits.correlation_threshold == 0.9

    rig.risk.update_config(RiskConfig(correlation=correlation_config(window=30)))
    assert tracker_of(rig) is not before
    assert tracker_of(rig).returns(rig.aapl.id) == []

    rig.risk.update_config(RiskConfig())
    assert rig.risk.correlation is None
    feed_bars(rig, 2)  # the old trackers no longer listen
    assert before.returns(rig.aapl.id)[-1][0] < rig.clock.timestamp_ns()


def test_an_order_without_a_price_to_value_it_is_refused_while_the_limit_is_on() -> None:
    rig = Rig(RiskConfig(correlation=correlation_config()))

    command = rig.market(rig.xom, BUY, "10")

    assert not rig.reached_venue(command)
    assert rig.denials() == ["max_correlated_exposure: no last price on XOM.XNAS to value the order"]


def test_negative_correlation_never_counts_and_flat_series_have_no_correlation() -> None:
    rig = Rig(RiskConfig(correlation=correlation_config()), extra=(Equity("FLAT.XNAS"),))
    tracker = tracker_of(rig)
    a, b, flat = rig.aapl.id, rig.msft.id, Equity("FLAT.XNAS").id
    rng = random.Random(3)
    price_a = price_b = 100 * 10**9
    for step in range(1, 22):
        move = int(rng.gauss(0, 10**9))
        price_a += move
        price_b -= move
        tracker.record(a, step, price_a)
        tracker.record(b, step, price_b)
        tracker.record(flat, step, 50 * 10**9)

    corr = tracker.correlation(a, b)
    assert corr is not None
    assert corr < -0.99
    assert tracker.correlation(a, flat) is None
    rig.hold(rig.msft, BUY, "100", "100.00")
    total, parts = tracker.correlated_exposure(a, 1_000 * 10**9, 0.7)
    assert (total, parts) == (1_000 * 10**9, [])


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"window": 2, "max_correlated_exposure": 1}, "window"),
        ({"threshold": 0, "max_correlated_exposure": 1}, "threshold"),
        ({"threshold": "1.5", "max_correlated_exposure": 1}, "threshold"),
        ({"sample_seconds": 0, "max_correlated_exposure": 1}, "sample_seconds"),
        ({}, "max_correlated_exposure"),
    ],
)
def test_invalid_correlation_settings_are_rejected_naming_the_key(
    settings: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        RiskConfig.model_validate({"correlation": settings})

    assert [error["loc"] for error in info.value.errors()] == [("correlation", field)]
