"""Replay of a recorded session: stored messages fed back in order with counts per type, and
what-if runs of the recorded market data through a changed strategy or risk config."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradeloop.config.loader import load_config
from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import Message
from tradeloop.data.synthetic import generate_trades
from tradeloop.model.data import Bar, TradeTick
from tradeloop.model.events import OrderFilled, PositionClosed
from tradeloop.model.objects import Money
from tradeloop.runtime.build import LoadedData, build_engine, make_instrument
from tradeloop.runtime.config import BacktestConfig
from tradeloop.runtime.projection import Projection, rebuild
from tradeloop.runtime.replay import Outcome, record_into, recorded_market_data, replay, what_if
from tradeloop.store import ReadFilter, SqliteEventStore

SESSION: dict[str, Any] = yaml.safe_load(
    """
run: {name: replay-test, seed: 4}
data:
  source: synthetic
  kind: bars
  instrument: {id: ABC.SIM, type: equity}
  synthetic: {count: 1200, seed: 9, volatility: 0.003}
venue: {starting_balance: 100000, account_type: MARGIN, taker_fee: 0.0001, latency_ms: 1}
strategies:
  - class: tradeloop.strategy.samples:MovingAverageCrossover
    config: {instrument_id: ABC.SIM, fast: 5, slow: 20, quantity: 10, method: trend}
lifecycle:
  methods:
    trend:
      exits: {stop_loss_pct: 0.5, trailing_stop: {activation_pct: 0.2, distance_pct: 0.3}}
"""
)
BALANCE = Money.from_str("100000", "USD")


def config(**sections: Any) -> BacktestConfig:
    return load_config(BacktestConfig, base={**SESSION, **sections})


@dataclass(frozen=True)
class Recorded:
    path: Path
    config: BacktestConfig
    outcome: Outcome
    records: list[tuple[int, str, int, str | None]]  # seq, type name, ts_event, correlation id


def record_session(path: Path, cfg: BacktestConfig, loaded: LoadedData | None = None) -> Recorded:
    engine = build_engine(cfg, event_log=None, loaded=loaded)
    with SqliteEventStore(path) as store:
        recorder = record_into(engine.bus, store, batch=1_000)
        engine.run()
        recorder.flush()
        records = [(r.seq, r.type_name, r.ts_event, r.correlation_id) for r in store.read()]
    return Recorded(path, cfg, Outcome.of(engine), records)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record_session(tmp_path_factory.mktemp("replay") / "store.sqlite", config())


def test_replay_feeds_every_record_in_order_and_counts_them_per_type(session: Recorded) -> None:
    seen: list[Message] = []
    with SqliteEventStore(session.path) as store:
        counts = replay(store, callback=seen.append)
    assert counts.total == len(session.records) == len(seen)
    assert counts.counts == dict(sorted(Counter(name for _, name, _, _ in session.records).items()))
    assert [m.TYPE_NAME for m in seen] == [name for _, name, _, _ in session.records]
    assert (counts.first_seq, counts.last_seq) == (1, len(session.records))
    assert counts.counts["OrderFilled"] > 10


def test_replay_of_a_time_range_takes_the_records_from_the_start_up_to_before_the_end(
    session: Recorded,
) -> None:
    times = sorted({ts for _, _, ts, _ in session.records})
    start, end = times[len(times) // 3], times[2 * len(times) // 3]
    progress: list[tuple[int, int]] = []
    with SqliteEventStore(session.path) as store:
        counts = replay(
            store, from_ts=start, to_ts=end, progress=lambda done, total: progress.append((done, total))
        )
    expected = [r for r in session.records if start <= r[2] < end]
    assert counts.total == len(expected) > 0
    assert counts.first_ts == start
    assert counts.last_ts is not None
    assert counts.last_ts < end
    assert progress[-1] == (len(session.records), len(session.records))


def test_replay_of_one_correlation_id_is_the_whole_causal_chain_of_a_trade(session: Recorded) -> None:
    first_fill = next(r for r in session.records if r[1] == "OrderFilled")
    chain_id = first_fill[3]
    assert chain_id is not None
    seen: list[Message] = []
    with SqliteEventStore(session.path) as store:
        counts = replay(store, correlation_id=chain_id, callback=seen.append)
    names = [m.TYPE_NAME for m in seen]
    # From the strategy's command to the account update, in the order it happened.
    assert names[0] == "SubmitOrder"
    assert names.index("OrderSubmitted") < names.index("OrderFilled") < names.index("PositionOpened")
    assert "AccountStateChanged" in names
    assert counts.total == sum(1 for r in session.records if r[3] == chain_id)
    assert all(getattr(m, "correlation_id", None) == chain_id for m in seen)


def test_replay_of_some_types_feeds_only_those(session: Recorded) -> None:
    seen: list[Message] = []
    with SqliteEventStore(session.path) as store:
        counts = replay(store, types={"OrderFilled", "PositionClosed"}, callback=seen.append)
        one = replay(store, types=["Bar"])
    assert set(counts.counts) == {"OrderFilled", "PositionClosed"}
    assert counts.counts["OrderFilled"] == sum(1 for r in session.records if r[1] == "OrderFilled")
    assert any(isinstance(m, PositionClosed) for m in seen)
    assert all(isinstance(m, OrderFilled | PositionClosed) for m in seen)
    assert one.counts == {"Bar": 1200}


def test_replay_into_a_fresh_projection_rebuilds_the_same_state_as_rebuild(session: Recorded) -> None:
    assert session.config.data.instrument is not None
    instrument = make_instrument(session.config.data.instrument)
    projection = Projection([instrument], BALANCE, "SIM-001")
    with SqliteEventStore(session.path) as store:
        replay(store, projection=projection)
        rebuilt = rebuild(store, instruments=[instrument], starting_balance=BALANCE)
    assert not projection.partial
    assert projection.state() == rebuilt.state()
    assert projection.state().equity == session.outcome.final_equity


def test_replay_refuses_an_empty_time_range_and_unknown_types(session: Recorded) -> None:
    with SqliteEventStore(session.path) as store:
        with pytest.raises(ValueError, match="the time range is empty"):
            replay(store, from_ts=10, to_ts=10)
        with pytest.raises(ValueError, match="unknown message type"):
            replay(store, types={"OrderFiled"})


def test_the_recorded_market_data_is_the_sessions_source_data_only(session: Recorded) -> None:
    assert session.config.data.instrument is not None
    instrument = make_instrument(session.config.data.instrument)
    with SqliteEventStore(session.path) as store:
        bars = recorded_market_data(store, instrument, "bars")
        trades = recorded_market_data(store, instrument, "trades")
    assert len(bars) == 1200
    assert all(isinstance(b, Bar) for b in bars)
    assert trades == []


def test_what_if_of_the_sessions_own_config_reproduces_the_recorded_outcome(session: Recorded) -> None:
    with SqliteEventStore(session.path) as store:
        report = what_if(store, session.config, session.config)
    assert report.original == session.outcome == report.changed
    assert report.data_count == 1200
    assert report.changed_keys == ()
    assert all(diff in ("+0", "0", "0.00 USD") for *_, diff in report.rows())


def test_what_if_with_an_order_size_limit_below_the_strategys_quantity_fills_less(session: Recorded) -> None:
    tighter = config(risk={"max_order_quantity": 5})
    with SqliteEventStore(session.path) as store:
        report = what_if(store, session.config, tighter)
    assert report.original == session.outcome
    assert report.changed.fills < report.original.fills
    assert report.changed.denied > 0 == report.original.denied
    assert report.difference("fills") == report.changed.fills - report.original.fills < 0
    assert report.changed_keys == ("risk.max_order_quantity",)
    rows = {label: (a, b, diff) for label, a, b, diff in report.rows()}
    assert rows["orders denied"][2] == f"+{report.changed.denied}"


def test_what_if_with_other_strategy_settings_trades_differently(session: Recorded) -> None:
    strategies = [dict(SESSION["strategies"][0], config={**SESSION["strategies"][0]["config"], "fast": 10})]
    with SqliteEventStore(session.path) as store:
        report = what_if(store, session.config, config(strategies=strategies))
    assert report.changed_keys == ("strategies.0.config.fast",)
    assert report.changed != report.original


def test_what_if_of_a_trade_session_replays_the_trades_not_the_bars_built_from_them(tmp_path: Path) -> None:
    cfg = config()
    assert cfg.data.instrument is not None
    instrument = make_instrument(cfg.data.instrument)
    trades = generate_trades(instrument, 6_000, seed=3, mean_interval_ns=10e9, volatility=0.002)
    recorded = record_session(tmp_path / "s.sqlite", cfg, LoadedData(instrument, list(trades), {}))
    names = Counter(name for _, name, _, _ in recorded.records)
    assert names["TradeTick"] == 6_000
    assert names["Bar"] > 0  # the strategy's one-minute bars, built from the trades and recorded too
    with SqliteEventStore(recorded.path) as store:
        report = what_if(store, cfg, cfg, instrument=instrument, kind="trades")
        data = recorded_market_data(store, instrument, "trades")
    assert report.data_count == 6_000
    assert all(isinstance(d, TradeTick) for d in data)
    assert report.original == recorded.outcome
    assert recorded.outcome.fills > 0


def test_what_if_without_recorded_data_of_the_kind_says_so(session: Recorded) -> None:
    with (
        SqliteEventStore(session.path) as store,
        pytest.raises(TradeloopError, match="holds no recorded quotes"),
    ):
        what_if(store, session.config, session.config, kind="quotes")


def test_the_recorder_flushes_what_it_buffered(tmp_path: Path) -> None:
    recorded = record_session(
        tmp_path / "s.sqlite", config(data={**SESSION["data"], "synthetic": {"count": 300}})
    )
    with SqliteEventStore(recorded.path) as store:
        assert store.last_seq() == len(recorded.records)
        assert len(list(store.read(ReadFilter(types=frozenset({"Bar"}))))) == 300
