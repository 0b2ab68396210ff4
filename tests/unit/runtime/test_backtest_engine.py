"""BacktestEngine: the whole loop on a simulated clock, over small synthetic data sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeloop.core.clock import NANOS_PER_SECOND, TimeEvent
from tradeloop.core.errors import TradeloopError
from tradeloop.data.aggregation import aggregate_trades_to_bars
from tradeloop.data.synthetic import generate_bars, generate_trades
from tradeloop.model.data import Bar, BarSpec
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderFilled
from tradeloop.model.instruments import Equity
from tradeloop.model.objects import Money, Quantity
from tradeloop.runtime import BacktestEngine
from tradeloop.store import content_hash, read_event_log
from tradeloop.strategy import Strategy, StrategyConfig
from tradeloop.venues.simulated import SimulatedVenueConfig

SEC = NANOS_PER_SECOND
T0 = 1_704_153_600 * SEC  # 2024-01-02 00:00 UTC
ABC = Equity("ABC.SIM")
XYZ = Equity("XYZ.SIM")
MINUTE = BarSpec.parse("1-MINUTE")
START_CASH = Money.from_str("100000", "USD")


def new_engine(*, seed: int = 0, event_log: Path | None = None) -> BacktestEngine:
    engine = BacktestEngine(seed=seed, event_log=event_log)
    engine.add_instrument(ABC)
    engine.add_instrument(XYZ)
    engine.add_venue("SIM", SimulatedVenueConfig(starting_balances=START_CASH))
    return engine


def abc_bars(n: int = 2_000, seed: int = 3) -> list[Bar]:
    return generate_bars(ABC, n, start_ns=T0, seed=seed, start_price="100")


class SubscribedConfig(StrategyConfig):
    subscriptions: tuple[tuple[str, str], ...] = (("ABC.SIM", "1-MINUTE"),)


class Recorder(Strategy):
    """Records what reaches it; subscribes to the configured (instrument, spec) pairs."""

    def __init__(self, config: SubscribedConfig | None = None) -> None:
        super().__init__(config or SubscribedConfig())
        self.cfg = config or SubscribedConfig()
        self.seen: list[tuple[str, int, str]] = []

    def on_start(self) -> None:
        for iid, spec in self.cfg.subscriptions:
            self.subscribe_bars(iid, spec)

    def on_bar(self, bar: Bar) -> None:
        self.seen.append(("bar", bar.ts_event, f"{bar.instrument_id} {bar.spec}"))


class RoundTrip(Recorder):
    """Buys 10 on bar 10, 60, 110, ... and goes flat 25 bars later (flat again before the end)."""

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        n = len(self.seen)
        if n % 50 == 10:
            self.submit_order(
                self.order_factory.market(bar.instrument_id, OrderSide.BUY, Quantity.from_int(10))
            )
        elif n % 50 == 35:
            self.close_position(bar.instrument_id)


class Faulty(Recorder):
    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        if len(self.seen) % 100 == 0:
            raise RuntimeError(f"bad bar {len(self.seen)}")


class Timed(Recorder):
    def on_start(self) -> None:
        super().on_start()
        self.set_timer("every-90s", 90 * SEC)
        self.set_time_alert("alert", T0 + 200 * SEC)

    def on_time_event(self, event: TimeEvent) -> None:
        assert self.clock.timestamp_ns() == event.ts_event  # the clock stands at the timer's time
        self.seen.append(("timer", event.ts_event, event.name))


# -- runs ------------------------------------------------------------------------------------


def test_a_run_over_synthetic_bars_trades_and_keeps_an_exact_ledger() -> None:
    engine = new_engine()
    bars = abc_bars()
    engine.add_data(bars)
    strategy = RoundTrip()
    engine.add_strategy(strategy)

    result = engine.run()

    assert result.data_count == 2_000
    assert [ts for _, ts, _ in strategy.seen] == [b.ts_event for b in bars]
    assert (result.start_ns, result.end_ns) == (bars[0].ts_init, bars[-1].ts_init)
    assert result.orders == 80  # 40 entries, 40 exits
    assert result.fills == result.messages["OrderFilled"] == 80
    assert len(result.trades) == 40
    assert result.bus.handler_errors == 0
    portfolio = engine.portfolio
    assert portfolio is not None
    assert portfolio.is_flat()
    assert result.final_equity == portfolio.equity()
    assert result.final_equity == result.starting_balance + result.realized_pnl
    trade_pnl = sum((t.realized_pnl for t in result.trades), start=0)
    assert trade_pnl == result.realized_pnl.as_decimal()
    assert result.strategies == ["RoundTrip-001"]
    assert result.instruments == ["ABC.SIM", "XYZ.SIM"]


def test_trade_ticks_are_aggregated_into_the_bars_a_strategy_subscribes_to() -> None:
    engine = new_engine()
    trades = generate_trades(ABC, 6_000, start_ns=T0, seed=5, mean_interval_ns=2e9)
    engine.add_data(trades)
    strategy = Recorder()
    engine.add_strategy(strategy)

    result = engine.run()

    expected = aggregate_trades_to_bars(trades, ABC, MINUTE)[:-1]  # the last bar never closes
    assert len(expected) > 150
    assert [ts for _, ts, _ in strategy.seen] == [b.ts_event for b in expected]
    assert result.messages["Bar"] == len(expected)
    assert result.messages["TradeTick"] == result.data_count == 6_000


def test_several_streams_are_merged_in_time_order_with_ties_in_the_order_added() -> None:
    engine = new_engine()
    abc = generate_bars(ABC, 300, start_ns=T0, seed=1)
    xyz = generate_bars(XYZ, 600, start_ns=T0, seed=2, spec=BarSpec.parse("30-SECOND"))
    engine.add_data(abc)
    engine.add_data(xyz)
    strategy = Recorder(SubscribedConfig(subscriptions=(("ABC.SIM", "1-MINUTE"), ("XYZ.SIM", "30-SECOND"))))
    engine.add_strategy(strategy)

    result = engine.run()

    assert result.data_count == 900
    stamps = [(ts, name) for _, ts, name in strategy.seen]
    assert stamps == sorted(stamps, key=lambda s: s[0])
    assert stamps[:3] == [
        (T0 + 30 * SEC, "XYZ.SIM 30-SECOND"),
        (T0 + 60 * SEC, "ABC.SIM 1-MINUTE"),  # a tie: the stream added first goes first
        (T0 + 60 * SEC, "XYZ.SIM 30-SECOND"),
    ]


def test_timers_fire_in_order_on_the_simulated_clock_between_data_points() -> None:
    engine = new_engine()
    engine.add_data(generate_bars(ABC, 6, start_ns=T0, seed=1))  # closes at 60 s ... 360 s
    strategy = Timed()
    engine.add_strategy(strategy)

    engine.run()

    name = "Timed-001."
    assert [(kind, (ts - T0) // SEC, what) for kind, ts, what in strategy.seen] == [
        ("bar", 60, "ABC.SIM 1-MINUTE"),
        ("bar", 120, "ABC.SIM 1-MINUTE"),
        ("timer", 150, name + "every-90s"),  # started at the first data point, 60 s
        ("bar", 180, "ABC.SIM 1-MINUTE"),
        ("timer", 200, name + "alert"),
        ("timer", 240, name + "every-90s"),  # due at a data point's time: fires before it
        ("bar", 240, "ABC.SIM 1-MINUTE"),
        ("bar", 300, "ABC.SIM 1-MINUTE"),
        ("timer", 330, name + "every-90s"),
        ("bar", 360, "ABC.SIM 1-MINUTE"),
    ]  # 420 s lies past the data: the run ends before it


def test_a_strategy_whose_handler_raises_does_not_stop_the_run() -> None:
    engine = new_engine()
    engine.add_data(abc_bars())
    faulty = Faulty(SubscribedConfig(strategy_id="faulty"))
    healthy = RoundTrip(SubscribedConfig(strategy_id="healthy"))
    engine.add_strategy(faulty)
    engine.add_strategy(healthy)

    result = engine.run()

    assert result.bus.handler_errors == 20
    assert result.messages["HandlerFailed"] == 20
    assert len(faulty.seen) == len(healthy.seen) == 2_000
    assert result.fills == 80


def test_the_same_seed_gives_an_identical_event_log_and_another_seed_does_not(tmp_path: Path) -> None:
    digests = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        engine = new_engine(seed=seed, event_log=tmp_path / f"{name}.sqlite")
        engine.add_data(abc_bars())
        engine.add_strategy(RoundTrip())
        result = engine.run()
        assert result.event_log_path == tmp_path / f"{name}.sqlite"
        assert result.event_log_hash == content_hash(result.event_log_path)
        digests.append(result.event_log_hash)

    assert digests[0] == digests[1]
    assert digests[0] != digests[2]  # message ids come from the seed
    fills = [r.message for r in read_event_log(tmp_path / "a.sqlite", types={"OrderFilled"})]
    assert len(fills) == 80
    assert all(isinstance(f, OrderFilled) for f in fills)


# -- refusals --------------------------------------------------------------------------------


def test_an_out_of_order_stream_is_refused_naming_the_item() -> None:
    engine = new_engine()
    bars = abc_bars(10)
    bars[4], bars[5] = bars[5], bars[4]

    with pytest.raises(TradeloopError, match="data stream is out of order at item 5"):
        engine.add_data(bars)

    engine.add_strategy(Recorder())
    with pytest.raises(TradeloopError, match="add data before running"):
        engine.run()  # nothing of the bad stream was kept


def test_data_for_an_instrument_that_was_not_added_is_refused() -> None:
    engine = BacktestEngine()
    engine.add_instrument(XYZ)
    with pytest.raises(TradeloopError, match=r"data for ABC\.SIM, which was not added as an instrument"):
        engine.add_data(abc_bars(5))


def test_an_empty_stream_is_refused() -> None:
    with pytest.raises(TradeloopError, match="a data stream is empty"):
        new_engine().add_data([])


def test_an_engine_runs_once() -> None:
    engine = new_engine()
    engine.add_data(abc_bars(20))
    engine.add_strategy(Recorder())
    engine.run()

    with pytest.raises(TradeloopError, match="this engine has already run; build a new one"):
        engine.run()


def test_a_run_needs_a_venue_a_strategy_and_data() -> None:
    no_data = new_engine()
    no_data.add_strategy(Recorder())
    with pytest.raises(TradeloopError, match="add data before running"):
        no_data.run()

    no_strategy = new_engine()
    no_strategy.add_data(abc_bars(5))
    with pytest.raises(TradeloopError, match="add a strategy before running"):
        no_strategy.run()

    no_venue = BacktestEngine()
    no_venue.add_instrument(ABC)
    no_venue.add_data(abc_bars(5))
    no_venue.add_strategy(Recorder())
    with pytest.raises(TradeloopError, match="add a venue before running"):
        no_venue.run()


def test_two_strategies_need_different_ids() -> None:
    engine = new_engine()
    engine.add_strategy(Recorder())
    with pytest.raises(
        TradeloopError, match="two strategies share the id Recorder-001; give each a strategy_id"
    ):
        engine.add_strategy(Recorder())
    engine.add_strategy(Recorder(SubscribedConfig(strategy_id="second")))
    assert [s.id for s in engine.strategies] == ["Recorder-001", "second"]


def test_an_instrument_or_venue_cannot_be_added_twice_with_other_settings() -> None:
    engine = new_engine()
    engine.add_instrument(ABC)  # the same again is fine
    with pytest.raises(TradeloopError, match=r"instrument ABC\.SIM is already added with other settings"):
        engine.add_instrument(Equity("ABC.SIM", taker_fee="0.001"))
    with pytest.raises(TradeloopError, match="venue SIM is already added"):
        engine.add_venue("SIM", SimulatedVenueConfig(starting_balances=START_CASH))


def test_a_subscription_the_data_cannot_serve_fails_the_strategy_start() -> None:
    engine = new_engine()
    engine.add_data(abc_bars(5))
    engine.add_strategy(Recorder(SubscribedConfig(subscriptions=(("XYZ.SIM", "1-MINUTE"),))))

    with pytest.raises(TradeloopError, match=r"no data to serve 1-MINUTE bars of XYZ\.SIM"):
        engine.run()


def test_progress_is_reported_with_the_final_count() -> None:
    engine = new_engine()
    engine.add_data(abc_bars(100))
    engine.add_strategy(Recorder())
    calls: list[tuple[int, int]] = []

    engine.run(progress=lambda done, total: calls.append((done, total)))

    assert calls[-1] == (100, 100)


def test_a_run_that_fails_closes_its_event_log_and_leaves_no_writer_process(tmp_path: Path) -> None:
    import gc

    from tradeloop.data.synthetic import generate_bars as _bars
    from tradeloop.model import Equity as _Equity
    from tradeloop.model import Money as _Money
    from tradeloop.strategy import Strategy as _Strategy
    from tradeloop.venues.simulated import SimulatedVenueConfig as _Cfg

    instrument = _Equity("FAIL.SIM", currency="EUR")  # the account is in USD: the run must refuse
    engine = BacktestEngine(seed=1, event_log=tmp_path / "events.sqlite", event_log_writer="process")
    engine.add_instrument(instrument)
    engine.add_venue("SIM", _Cfg(starting_balances=_Money.from_str("1000", "USD")))
    engine.add_data(_bars(instrument, 10, seed=1))
    engine.add_strategy(_Strategy())
    with pytest.raises(TradeloopError, match="quoted in EUR"):
        engine.run()
    gc.collect()  # an unreaped writer would raise a ResourceWarning (an error here)
    assert (tmp_path / "events.sqlite").exists()


def test_a_strategy_whose_start_or_timer_raises_is_reported_and_the_run_goes_on() -> None:
    from tradeloop.data.synthetic import generate_bars as _bars
    from tradeloop.model import Equity as _Equity
    from tradeloop.model import Money as _Money
    from tradeloop.strategy import Strategy as _Strategy
    from tradeloop.strategy import StrategyConfig as _Config
    from tradeloop.venues.simulated import SimulatedVenueConfig as _Cfg

    class BadStart(_Strategy):
        def on_start(self) -> None:
            raise RuntimeError(f"{self} cannot start")  # the repr must not leak an address

    class BadTimer(_Strategy):
        fired = 0

        def on_start(self) -> None:
            self.subscribe_bars("OK.SIM")
            self.set_timer("tick", 60 * 1_000_000_000)

        def on_time_event(self, event: object) -> None:
            BadTimer.fired += 1
            raise ZeroDivisionError("bad timer")

    instrument = _Equity("OK.SIM")
    engine = BacktestEngine(seed=1)
    engine.add_instrument(instrument)
    engine.add_venue("SIM", _Cfg(starting_balances=_Money.from_str("1000", "USD")))
    engine.add_data(_bars(instrument, 20, seed=1))
    engine.add_strategy(BadStart(_Config(strategy_id="bad-start")))
    engine.add_strategy(BadTimer(_Config(strategy_id="bad-timer")))
    result = engine.run()
    assert result.data_count == 20
    assert BadTimer.fired >= 18  # every minute of the run, not just the first
    assert result.bus.handler_errors == 1 + BadTimer.fired
    failures = [m for m in engine.bus.history or () if type(m).__name__ == "HandlerFailed"]
    assert any("cannot start" in f.error and "0x" not in f.error for f in failures)  # type: ignore[attr-defined]
