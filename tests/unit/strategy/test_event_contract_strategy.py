"""EventContractEdge: edges of a model probability against event-contract quotes, as signals.

The rig is the real loop by hand (bus, test clock, portfolio, execution and risk engines);
:class:`FillingVenue` stands in for a venue and fills market orders at once. The lifecycle's
entry flow is not in the rig: the signals themselves are checked, and where a position is
needed a stand-in for the entry flow answers the first signal with a market order. The last
test runs a YAML backtest config through the runtime.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tradeloop.config import load_config
from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.ids import AccountId, InstrumentId, Venue, VenueOrderId
from tradeloop.data import ProbabilitySeries, generate_event_contract
from tradeloop.execution import ExecutionEngine
from tradeloop.lifecycle.events import EdgeDetected
from tradeloop.model import BinaryEventContract, Equity, OrderSide, Quantity, QuoteTick
from tradeloop.model.account import Account
from tradeloop.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from tradeloop.model.data import BarSpec
from tradeloop.model.events import OrderAccepted
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money, Price
from tradeloop.portfolio import Portfolio
from tradeloop.risk import RiskEngine
from tradeloop.runtime import BacktestConfig, build_engine, load_strategy
from tradeloop.runtime.config import StrategyEntry
from tradeloop.strategy import StrategyContext
from tradeloop.strategy.samples import EventContractEdge, EventContractEdgeConfig
from tradeloop.testkit import TestClock, id_factory, make_fill, make_quote

SEC = NANOS_PER_SECOND
START = 1_704_067_200 * SEC  # 2024-01-01T00:00:00Z
RAIN = BinaryEventContract("RAIN.SIM", expiry_ns=START + 3_600 * SEC)


def quote(at_s: int, bid: str, ask: str, instrument: Instrument = RAIN) -> QuoteTick:
    return make_quote(instrument, bid, ask, 50, 50, ts_ns=START + at_s * SEC)


def quotes_every(step_s: int, until_s: int, bid: str = "0.53", ask: str = "0.55") -> list[QuoteTick]:
    return [quote(t, bid, ask) for t in range(0, until_s + 1, step_s)]


def model(*points: tuple[int, float]) -> ProbabilitySeries:
    """A model series from ``(seconds after START, probability)`` points."""
    return ProbabilitySeries([START + t * SEC for t, _ in points], [p for _, p in points])


def config(**overrides: Any) -> EventContractEdgeConfig:
    settings: dict[str, Any] = {"instrument_id": "RAIN.SIM", "method": "event_edge"} | overrides
    return EventContractEdgeConfig(**settings)


class FillingVenue:
    """Accepts every order inside the call and fills a market order at the latest quote."""

    def __init__(self, bus: MessageBus, clock: TestClock, instrument: Instrument) -> None:
        self._bus = bus
        self._clock = clock
        self._instrument = instrument
        self._ids = id_factory(50)
        self.quote: QuoteTick | None = None

    @property
    def venue(self) -> Venue:
        return Venue(self._instrument.venue)

    @property
    def account_id(self) -> AccountId:
        return AccountId("SIM-001")

    def submit_order(self, command: SubmitOrder) -> None:
        spec = command.order
        now = self._clock.timestamp_ns()
        venue_order_id = f"V-{spec.client_order_id}"
        self._bus.publish(
            OrderAccepted(
                id=self._ids.new_id(),
                correlation_id=command.correlation_id,
                causation_id=command.id,
                ts_event=now,
                ts_init=now,
                strategy_id=spec.strategy_id,
                instrument_id=spec.instrument_id,
                client_order_id=spec.client_order_id,
                venue_order_id=VenueOrderId(venue_order_id),
            )
        )
        assert self.quote is not None
        price = self.quote.ask_price if spec.side is OrderSide.BUY else self.quote.bid_price
        self._bus.publish(
            make_fill(
                self._instrument,
                spec.side,
                spec.quantity,
                price,
                ts_ns=now,
                client_order_id=spec.client_order_id,
                venue_order_id=venue_order_id,
                strategy_id=spec.strategy_id,
                correlation_id=command.correlation_id,
                causation_id=command.id,
                ids=self._ids,
            )
        )

    def cancel_order(self, command: CancelOrder) -> None:
        raise AssertionError(f"unexpected {command}")

    def modify_order(self, command: ModifyOrder) -> None:
        raise AssertionError(f"unexpected {command}")

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        raise AssertionError(f"unexpected {command}")


class NoData:
    """The runtime's DataSubscriber port; the test publishes the quotes itself."""

    def subscribe_bars(self, instrument_id: InstrumentId, spec: BarSpec) -> None: ...

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None: ...

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None: ...


def run(
    data: Sequence[QuoteTick],
    probabilities: ProbabilitySeries,
    *,
    instrument: Instrument = RAIN,
    on_edge: Callable[[EventContractEdge, EdgeDetected], None] | None = None,
    **overrides: Any,
) -> list[EdgeDetected]:
    """Run the strategy over ``data``; the signals it published, in order."""
    clock = TestClock(START)
    ids = id_factory(1)
    bus = MessageBus(clock, ids)
    portfolio = Portfolio(
        bus, clock, ids, Account(AccountId("SIM-001"), Money.from_str("10000", "USD")), [instrument]
    )
    execution = ExecutionEngine(bus, clock, ids)
    RiskEngine(bus, clock, ids, portfolio, execution)
    venue = FillingVenue(bus, clock, instrument)
    execution.register_client(venue)
    context = StrategyContext(
        bus=bus,
        clock=clock,
        ids=ids,
        portfolio=portfolio,
        execution=execution,
        instruments={instrument.id: instrument},
        data=NoData(),
    )
    overrides.setdefault("instrument_id", str(instrument.id))
    strategy = EventContractEdge(config(**overrides), probabilities)
    strategy.register(context)
    edges: list[EdgeDetected] = []
    bus.subscribe(EdgeDetected, edges.append)
    if on_edge is not None:
        bus.subscribe(EdgeDetected, lambda event: on_edge(strategy, event))
    strategy.start()
    for tick in data:
        clock.set_time(tick.ts_init)
        venue.quote = tick
        bus.publish(tick)
    return edges


def seconds(edges: list[EdgeDetected]) -> list[int]:
    return [(e.ts_event - START) // SEC for e in edges]


# -- what a signal says ------------------------------------------------------------------------


def test_a_model_above_the_ask_signals_a_buy_with_the_edge_over_the_ask() -> None:
    (edge,) = run([quote(0, "0.53", "0.55")], model((0, 0.62)))

    assert edge.side is OrderSide.BUY
    assert edge.edge == 0.07  # exactly: rounded to the fixed-point precision
    assert edge.price == Price.from_str("0.55")
    assert edge.win_probability == 0.62
    assert edge.payoff_ratio == pytest.approx(0.45 / 0.55)
    assert (edge.strategy_id, edge.instrument_id, edge.method) == (
        "EventContractEdge-001",
        RAIN.id,
        "event_edge",
    )
    assert edge.confidence == 1.0
    assert edge.ts_event == START


@pytest.mark.parametrize("p", [0.55, 0.54, 0.40])
def test_no_signal_when_buying_at_the_ask_has_no_edge(p: float) -> None:
    assert run([quote(0, "0.53", "0.55")], model((0, p))) == []


def test_a_model_below_the_bid_signals_a_sell_only_when_shorting_is_allowed() -> None:
    data, below = [quote(0, "0.53", "0.55")], model((0, 0.45))
    assert run(data, below) == []

    (edge,) = run(data, below, allow_short=True, confidence=0.8)

    assert edge.side is OrderSide.SELL
    assert edge.edge == 0.08
    assert edge.price == Price.from_str("0.53")
    assert edge.win_probability == pytest.approx(0.55)
    assert edge.payoff_ratio == pytest.approx(0.53 / 0.47)
    assert edge.confidence == 0.8


def test_the_latest_model_value_at_each_quote_is_used() -> None:
    data = [quote(0, "0.53", "0.55"), quote(30, "0.60", "0.62"), quote(60, "0.60", "0.62")]
    probabilities = model((0, 0.60), (45, 0.70))

    edges = run(data, probabilities, signal_interval_seconds=0)

    assert [(s, e.edge, e.price) for s, e in zip(seconds(edges), edges, strict=True)] == [
        (0, 0.05, Price.from_str("0.55")),  # 0.60 - 0.55; at 30 s the model (0.60) is under the ask
        (60, 0.08, Price.from_str("0.62")),
    ]


def test_no_signal_before_the_first_model_value_or_on_a_stale_one() -> None:
    data = quotes_every(10, 100)
    probabilities = model((20, 0.70))

    fresh_only = run(data, probabilities, signal_interval_seconds=0, max_probability_age_seconds=30)
    any_age = run(data, probabilities, signal_interval_seconds=0)

    assert seconds(fresh_only) == [20, 30, 40, 50]
    assert seconds(any_age) == list(range(20, 101, 10))


def test_no_signal_at_or_after_the_expiry() -> None:
    expiring = BinaryEventContract("RAIN.SIM", expiry_ns=START + 30 * SEC)
    data = [quote(t, "0.53", "0.55", expiring) for t in (0, 10, 20, 30, 40)]

    edges = run(data, model((0, 0.9)), instrument=expiring, signal_interval_seconds=0)

    assert seconds(edges) == [0, 10, 20]


# -- throttling --------------------------------------------------------------------------------


def test_signals_are_throttled_to_one_per_interval() -> None:
    edges = run(quotes_every(10, 300), model((0, 0.70)), signal_interval_seconds=60)
    assert seconds(edges) == [0, 60, 120, 180, 240, 300]


def test_a_zero_interval_signals_on_every_quote_with_an_edge() -> None:
    edges = run(quotes_every(10, 50), model((0, 0.70)), signal_interval_seconds=0)
    assert seconds(edges) == [0, 10, 20, 30, 40, 50]


def test_quotes_without_an_edge_do_not_use_up_the_interval() -> None:
    # No edge until 25 s; the first signal comes at the first quote after that, and the
    # interval counts from there.
    edges = run(quotes_every(10, 200), model((0, 0.50), (25, 0.70)), signal_interval_seconds=60)
    assert seconds(edges) == [30, 90, 150]


# -- with a position open ----------------------------------------------------------------------


def enter_once(strategy: EventContractEdge, event: EdgeDetected) -> None:
    """A stand-in for the lifecycle's entry flow: the first signal becomes a 10-lot market buy."""
    if not strategy.open_orders() and strategy.position(event.instrument_id) is None:
        strategy.submit_order(
            strategy.order_factory.market(event.instrument_id, event.side, Quantity.from_int(10))
        )


def test_with_a_position_open_signals_continue_on_its_side_as_the_edge_decays() -> None:
    probabilities = model((0, 0.70), (90, 0.56), (150, 0.40))

    flat = run(quotes_every(10, 300), probabilities, signal_interval_seconds=60)
    holding = run(quotes_every(10, 300), probabilities, signal_interval_seconds=60, on_edge=enter_once)

    assert [(s, e.edge) for s, e in zip(seconds(flat), flat, strict=True)] == [
        (0, 0.15),
        (60, 0.15),
        (120, 0.01),
    ]
    assert [(s, e.side, e.edge) for s, e in zip(seconds(holding), holding, strict=True)] == [
        (0, OrderSide.BUY, 0.15),
        (60, OrderSide.BUY, 0.15),
        (120, OrderSide.BUY, 0.01),
        (180, OrderSide.BUY, -0.15),  # the edge is gone: reported so the position can be exited
        (240, OrderSide.BUY, -0.15),
        (300, OrderSide.BUY, -0.15),
    ]


def test_a_short_position_keeps_signalling_its_sell_side() -> None:
    probabilities = model((0, 0.40), (100, 0.80))

    edges = run(
        quotes_every(10, 200),
        probabilities,
        signal_interval_seconds=60,
        allow_short=True,
        on_edge=enter_once,
    )

    assert [(s, e.side, e.edge) for s, e in zip(seconds(edges), edges, strict=True)] == [
        (0, OrderSide.SELL, 0.13),
        (60, OrderSide.SELL, 0.13),
        (120, OrderSide.SELL, -0.27),  # a buy edge of 0.25 now, but the position is short
        (180, OrderSide.SELL, -0.27),
    ]


# -- configuration -----------------------------------------------------------------------------


def test_the_method_is_required() -> None:
    entry = StrategyEntry.model_validate(
        {"class": "tradeloop.strategy.samples:EventContractEdge", "config": {"instrument_id": "RAIN.SIM"}}
    )
    with pytest.raises(ConfigError, match="method"):
        load_strategy(entry)


def test_exactly_one_probability_source_is_needed(tmp_path: Path) -> None:
    with pytest.raises(TradeloopError, match="exactly one"):
        EventContractEdge(config())
    path = model((0, 0.5)).write_csv(tmp_path / "model.csv")
    with pytest.raises(TradeloopError, match="exactly one"):
        EventContractEdge(config(probabilities=path), model((0, 0.5)))


def test_a_bad_probability_file_fails_when_the_strategy_is_built(tmp_path: Path) -> None:
    path = tmp_path / "model.csv"
    path.write_text("timestamp,probability\n2024-01-01T00:00:00Z,1.5\n")
    with pytest.raises(TradeloopError, match=r"row 1: probability 1\.5"):
        EventContractEdge(config(probabilities=path))


def test_an_instrument_that_is_not_an_event_contract_is_refused_at_start() -> None:
    stock = Equity("ABC.SIM")
    with pytest.raises(TradeloopError, match=r"ABC\.SIM is a EQUITY instrument, not a binary event contract"):
        run([quote(0, "10.00", "10.01", stock)], model((0, 0.5)), instrument=stock)


# -- from a YAML backtest config ---------------------------------------------------------------


def test_a_yaml_backtest_reads_the_model_from_a_file_and_signals_its_edges(tmp_path: Path) -> None:
    points = 1_500
    expiry_ns = START + (points - 1) * 60 * SEC
    instrument = BinaryEventContract("RAIN.SIM", expiry_ns=expiry_ns)
    series = generate_event_contract(instrument, points, start_ns=START, seed=21, true_probability=0.5)
    quotes_csv = series.write_quotes_csv(tmp_path / "quotes.csv")
    model_csv = series.model.write_csv(tmp_path / "model.csv")
    expiry = datetime.fromtimestamp(expiry_ns // SEC, UTC).isoformat()
    (tmp_path / "backtest.yaml").write_text(
        f"""
data:
  source: csv
  kind: quotes
  path: {quotes_csv}
  instrument: {{id: RAIN.SIM, type: event_contract, expiry: "{expiry}"}}
log: {{enabled: false}}
lifecycle:
  methods:
    event_edge:
      entry: {{min_edge_pct: 100}}  # no entries: this test is about the signals, all made flat
strategies:
  - class: tradeloop.strategy.samples:EventContractEdge
    config:
      instrument_id: RAIN.SIM
      method: event_edge
      probabilities: {model_csv}
      signal_interval_seconds: 300
      allow_short: true
"""
    )
    cfg = load_config(BacktestConfig, tmp_path / "backtest.yaml")
    engine = build_engine(cfg, event_log=None)
    edges: list[EdgeDetected] = []
    engine.bus.subscribe(EdgeDetected, edges.append)

    engine.run()

    assert len(edges) > 20
    assert {e.side for e in edges} == {OrderSide.BUY, OrderSide.SELL}
    by_time = {q.ts_event: q for q in series.quotes}
    for e in edges:
        p = series.model.at(e.ts_event)
        assert p is not None
        q = by_time[e.ts_event]
        if e.side is OrderSide.BUY:
            assert (e.price, e.win_probability) == (q.ask_price, p)
            assert e.edge == round(p - q.ask_price.as_double(), 9) > 0
        else:
            assert (e.price, e.win_probability) == (q.bid_price, 1 - p)
            assert e.edge == round(q.bid_price.as_double() - p, 9) > 0
    gaps = [b.ts_event - a.ts_event for a, b in itertools.pairwise(edges)]
    assert min(gaps) >= 300 * SEC
    assert max(e.ts_event for e in edges) < expiry_ns
