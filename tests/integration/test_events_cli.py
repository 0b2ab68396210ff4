"""``tradeloop events`` and ``tradeloop replay`` on a recorded session's store, through CliRunner.

Every failure a user can cause ends with exit code 2 and one clear line on stderr.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from tradeloop.cli.main import app
from tradeloop.config.loader import load_config
from tradeloop.model.events import OrderFilled
from tradeloop.runtime.build import build_engine
from tradeloop.runtime.config import BacktestConfig
from tradeloop.runtime.replay import record_into
from tradeloop.store import SqliteEventStore, archive_before
from tradeloop.testkit.store_files import overwrite_stored_payload

CONFIG = """\
run: {name: events-cli, seed: 4}
data:
  source: synthetic
  kind: bars
  instrument: {id: ABC.SIM, type: equity}
  synthetic: {count: 600, seed: 9, volatility: 0.003}
venue: {starting_balance: 100000, account_type: MARGIN, taker_fee: 0.0001, latency_ms: 1}
strategies:
  - class: tradeloop.strategy.samples:MovingAverageCrossover
    config: {instrument_id: ABC.SIM, fast: 5, slow: 20, quantity: 10, method: trend}
lifecycle:
  methods:
    trend:
      exits: {stop_loss_pct: 0.5, trailing_stop: {activation_pct: 0.2, distance_pct: 0.3}}
"""


@dataclass(frozen=True)
class Recorded:
    store: Path
    config: Path
    records: int
    fill: OrderFilled
    fills: int
    chain: list[str]  # type names of the first fill's correlation id, in order
    position_id: str
    cash: str


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    folder = tmp_path_factory.mktemp("events-cli")
    config = folder / "session.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    engine = build_engine(load_config(BacktestConfig, config), event_log=None)
    path = folder / "store.sqlite"
    with SqliteEventStore(path) as store:
        recorder = record_into(engine.bus, store)
        engine.run()
        recorder.flush()
        messages = [r.decode() for r in store.read()]
    fills = [m for m in messages if isinstance(m, OrderFilled)]
    chain = [m.TYPE_NAME for m in messages if getattr(m, "correlation_id", None) == fills[0].correlation_id]
    position = next(m for m in messages if m.TYPE_NAME == "PositionClosed")
    assert engine.portfolio is not None
    return Recorded(
        path,
        config,
        len(messages),
        fills[0],
        len(fills),
        chain,
        str(getattr(position, "position_id")),  # noqa: B009 - any position event has one
        str(engine.portfolio.account.cash),
    )


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_clean_failure(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def table_rows(text: str) -> dict[str, list[str]]:
    """The rows of the rich tables in ``text``: first cell -> the other cells."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


def record_lines(result: Result) -> list[list[str]]:
    assert result.exit_code == 0, result.output
    return [line.split() for line in result.stdout.splitlines()]


# -- tradeloop events ------------------------------------------------------------------------------


def test_events_prints_one_line_per_record_with_seq_time_type_stream_and_a_summary(
    recorded: Recorded,
) -> None:
    lines = record_lines(invoke("events", recorded.store, "--type", "OrderFilled", "--limit", "3"))
    assert len(lines) == 3
    seq, time, kind, stream, *rest = lines[0]
    fill = recorded.fill
    assert (kind, stream) == ("OrderFilled", f"order-{fill.client_order_id}")
    assert int(seq) > 0
    assert time.endswith("Z")
    assert time.startswith("2024-01-02T")
    text = " ".join(rest)
    assert f"corr={fill.correlation_id}" in text
    assert f"{fill.order_side.value} {fill.last_qty} @ {fill.last_px}" in text


def test_events_of_one_correlation_id_is_the_whole_causal_chain_in_order(recorded: Recorded) -> None:
    lines = record_lines(invoke("events", recorded.store, "--correlation", recorded.fill.correlation_id))
    assert [line[2] for line in lines] == recorded.chain
    assert recorded.chain[0] == "SubmitOrder"
    assert {"OrderFilled", "PositionOpened", "AccountStateChanged"} <= set(recorded.chain)
    seqs = [int(line[0]) for line in lines]
    assert seqs == sorted(seqs)


def test_events_of_one_order_and_of_one_position(recorded: Recorded) -> None:
    order = record_lines(invoke("events", recorded.store, "--order", recorded.fill.client_order_id))
    assert [line[2] for line in order][:2] == ["SubmitOrder", "OrderSubmitted"]
    assert "OrderFilled" in [line[2] for line in order]
    assert {line[3] for line in order} == {f"order-{recorded.fill.client_order_id}"}
    position = record_lines(invoke("events", recorded.store, "--position", recorded.position_id))
    kinds = [line[2] for line in position]
    assert kinds[0] == "PositionOpened"
    assert "PositionClosed" in kinds  # followed by the lifecycle's ExitCompleted when it closed it
    assert record_lines(invoke("events", recorded.store, "--position", "")) == []  # a filter, not "all"


def test_events_in_a_time_range_and_of_several_types(recorded: Recorded) -> None:
    lines = record_lines(
        invoke(
            "events", recorded.store, "--from", "2024-01-02T01:00:00Z", "--to", "2024-01-02T02:00",
            "--type", "Bar", "--type", "OrderFilled",
        )
    )  # fmt: skip
    assert {line[2] for line in lines} == {"Bar", "OrderFilled"}
    assert sum(1 for line in lines if line[2] == "Bar") == 60  # one-minute bars, the end excluded
    assert all("2024-01-02T01:" in line[1] for line in lines)


def test_events_export_to_json_lines_decodes_every_field(recorded: Recorded, tmp_path: Path) -> None:
    out = tmp_path / "fills.jsonl"
    result = invoke("events", recorded.store, "--type", "OrderFilled", "--export", out)
    assert result.exit_code == 0, result.output
    assert f"exported {recorded.fills} records" in result.stdout
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == recorded.fills
    first = rows[0]
    fill = recorded.fill
    assert first["type"] == "OrderFilled"
    assert first["stream_id"] == f"order-{fill.client_order_id}"
    assert first["correlation_id"] == fill.correlation_id
    message = first["message"]
    assert message["last_px"] == str(fill.last_px)
    assert message["last_qty"] == str(fill.last_qty)
    assert message["commission"] == str(fill.commission)
    assert message["order_side"] == fill.order_side.value
    assert message["trade_id"] == fill.trade_id


@pytest.mark.parametrize("name", ["out.jsonl", "out.parquet"])
def test_an_export_that_fails_half_way_leaves_an_existing_file_as_it_was(
    recorded: Recorded, tmp_path: Path, name: str
) -> None:
    store = tmp_path / "damaged.sqlite"
    with sqlite3.connect(recorded.store) as src, sqlite3.connect(store) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    overwrite_stored_payload(store, recorded.records // 2, b"\x93garbage")
    out = tmp_path / name
    out.write_text('{"keep": "me"}\n', encoding="utf-8")

    result = invoke("events", store, "--export", out)

    assert result.exit_code == 2
    assert "checksum" in result.stderr
    assert out.read_text(encoding="utf-8") == '{"keep": "me"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["damaged.sqlite", name])


def test_events_export_to_parquet_has_the_record_columns_and_the_message_as_json(
    recorded: Recorded, tmp_path: Path
) -> None:
    out = tmp_path / "all.parquet"
    result = invoke("events", recorded.store, "--export", out)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.column_names == [
        "seq", "ts_event", "ts_init", "type", "stream_id", "version",
        "message_id", "correlation_id", "causation_id", "message",
    ]  # fmt: skip
    assert table.num_rows == recorded.records
    assert table.column("seq").to_pylist() == list(range(1, recorded.records + 1))
    bar = json.loads(table.column("message")[table.column("type").to_pylist().index("Bar")].as_py())
    assert bar["instrument_id"] == "ABC.SIM"
    assert bar["spec"] == {"step": 1, "aggregation": "MINUTE"}


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--from", "yesterday"), ("--from", "not an ISO-8601 time", "yesterday")),
        (("--from", "2024-01-03", "--to", "2024-01-02"), ("--to", "must be after --from")),
        (("--type", "OrderFiled"), ("unknown message type 'OrderFiled'", "OrderFilled")),
        (("--order", "O-1", "--position", "P-1"), ("one of --order and --position",)),
        (("--export", "out.csv"), ("--export", "out.csv", ".jsonl or .parquet")),
    ],
)
def test_events_bad_input_fails_with_one_clear_line(
    recorded: Recorded, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    assert_clean_failure(invoke("events", recorded.store, *args), *fragments)


def test_events_of_a_missing_store_or_a_file_that_is_no_store_fails_and_changes_nothing(
    tmp_path: Path,
) -> None:
    assert_clean_failure(
        invoke("events", tmp_path / "nope.sqlite"), "nope.sqlite", "no such event store file"
    )
    run_log = tmp_path / "events.sqlite"  # say, a backtest's run log: another SQLite schema
    with sqlite3.connect(run_log) as conn:
        conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY)")
    conn.close()
    before = run_log.read_bytes()
    assert_clean_failure(invoke("events", run_log), "events.sqlite", "not an event store")
    assert run_log.read_bytes() == before
    text = tmp_path / "notes.txt"
    text.write_text("hello", encoding="utf-8")
    assert_clean_failure(invoke("events", text), "notes.txt", "not an event store")


# -- tradeloop replay ------------------------------------------------------------------------------


def test_replay_prints_the_records_per_type_and_the_rebuilt_account(recorded: Recorded) -> None:
    result = invoke("replay", recorded.store, "--rebuild", "--config", recorded.config, "--quiet")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows["OrderFilled"] == [f"{recorded.fills:,}"]
    assert rows["total"] == [f"{recorded.records:,}"]
    assert "rebuilt state" in result.stdout
    assert rows["cash"] == [recorded.cash]
    assert rows["account"] == ["SIM-001"]
    assert rows["fills"] == [f"{recorded.fills:,}"]


def test_replay_run_and_the_bare_store_form_are_the_same_command(recorded: Recorded) -> None:
    bare = invoke("replay", recorded.store, "--correlation", recorded.fill.correlation_id, "-q")
    named = invoke("replay", "run", recorded.store, "--correlation", recorded.fill.correlation_id, "-q")
    assert bare.exit_code == named.exit_code == 0, bare.output
    assert table_rows(bare.stdout) == table_rows(named.stdout)
    assert table_rows(bare.stdout)["total"] == [str(len(recorded.chain))]


def test_replay_what_if_prints_both_outcomes_side_by_side(recorded: Recorded, tmp_path: Path) -> None:
    changed = tmp_path / "tighter.yaml"
    changed.write_text(CONFIG + "risk: {max_order_quantity: 5}\n", encoding="utf-8")
    result = invoke("replay", "what-if", recorded.store, recorded.config, changed)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "session.yaml" in out
    assert "tighter.yaml" in out
    assert "orders denied" in out
    assert "changed: risk.max_order_quantity" in out
    assert table_rows(out)["fills"] == [str(recorded.fills), "0", f"-{recorded.fills}"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--rebuild",), ("--rebuild needs --config",)),
        (("--from", "soon"), ("--from", "soon")),
        (("--rebuild", "--config", "missing.yaml"), ("missing.yaml", "config file not found")),
        (("--type", "Nope"), ("unknown message type 'Nope'",)),
    ],
)
def test_replay_bad_input_fails_with_one_clear_line(
    recorded: Recorded, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    assert_clean_failure(invoke("replay", recorded.store, *args), *fragments)


def test_replay_of_a_missing_store_and_what_if_with_a_missing_config_fail_clearly(
    recorded: Recorded, tmp_path: Path
) -> None:
    assert_clean_failure(invoke("replay", tmp_path / "gone.sqlite"), "gone.sqlite", "no such event store")
    assert_clean_failure(
        invoke("replay", "what-if", recorded.store, recorded.config, tmp_path / "other.yaml"),
        "other.yaml",
        "config file not found",
    )


def test_a_store_with_archived_segments_is_read_whole_given_its_archive_folder(
    recorded: Recorded, tmp_path: Path
) -> None:
    copy = tmp_path / "store.sqlite"
    archive = tmp_path / "archive"
    with SqliteEventStore(recorded.store) as source, SqliteEventStore(copy, archive_dir=archive) as store:
        store.append([r.decode() for r in source.read()])
        report = archive_before(store, 2**62, segment_size=1_000)
    assert report.segments
    assert_clean_failure(invoke("events", copy, "--limit", "1"), "archive_dir")
    lines = record_lines(invoke("events", copy, "--archive", archive, "--type", "OrderFilled"))
    assert len(lines) == recorded.fills
    result = invoke("replay", copy, "--archive", archive, "--rebuild", "--config", recorded.config, "-q")
    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout)["cash"] == [recorded.cash]
    assert_clean_failure(
        invoke("events", copy, "--archive", tmp_path / "none"), "--archive", "no such folder"
    )
