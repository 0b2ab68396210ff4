"""The event log when things go wrong: corrupt rows, a dead or failing writer, misuse."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tradeloop.core.errors import TradeloopError
from tradeloop.store import SqliteEventLog, read_event_log
from tradeloop.store.log_writer import read_frame, write_frame
from tradeloop.testkit import es_future, make_bar


def bars(n: int) -> list:  # type: ignore[type-arg]
    es = es_future()
    return [make_bar(es, "4500", "4501", "4499", "4500.25", ts_ns=(i + 1) * 60_000_000_000) for i in range(n)]


def test_a_corrupt_row_is_reported_with_its_row_and_type(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    with SqliteEventLog(path, writer="inline") as log:
        for bar in bars(3):
            log.record(bar)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE market_data SET payload = x'c1' WHERE seq = 2")  # 0xc1: never valid msgpack
    conn.close()
    reader = read_event_log(path)
    assert next(reader).seq == 1
    with pytest.raises(TradeloopError, match=r"row 2 \(Bar\) is corrupt"):
        next(reader)


def test_recording_after_close_is_refused(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "events.sqlite", writer="inline")
    log.close()
    log.record(bars(1)[0])
    with pytest.raises(TradeloopError, match="is closed"):
        log.flush()


def _writer_children() -> list[int]:
    """Pids of this process's event-log writer children (Linux /proc)."""
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = stat.rsplit(")", 1)[1].split()[1]
        if ppid == me and b"tradeloop.store.writer_process" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="finds the writer through /proc")
def test_a_writer_process_that_dies_is_a_clear_error_not_a_silent_loss(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "events.sqlite", batch_size=2, writer="process")
    log.record(bars(1)[0])
    (pid,) = _writer_children()
    os.kill(pid, 9)
    time.sleep(0.2)

    def keep_logging() -> None:
        for bar in bars(50):  # the next batch finds the pipe broken, or close finds no answer
            log.record(bar)
        log.close()

    with pytest.raises(TradeloopError, match="event log writer"):
        keep_logging()


def test_a_writer_that_cannot_open_its_file_answers_with_the_reason(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    log = SqliteEventLog(folder / "events.sqlite", writer="process")
    shutil.rmtree(folder)  # before the child (a fresh interpreter) gets to open the file
    log.record(bars(1)[0])
    with pytest.raises(TradeloopError, match="event log writer failed: OperationalError"):
        log.close()


def test_the_writer_process_answers_a_bad_frame_with_err_and_exits_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeloop.store.writer_process", str(tmp_path / "w.sqlite")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    write_frame(proc.stdin, b"Bnot msgpack at all")
    answer = read_frame(proc.stdout)
    proc.stdin.close()
    code = proc.wait(timeout=10)
    stderr = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert answer is not None
    assert answer.startswith(b"ERR")
    assert code == 1
    assert b"Fatal Python error" not in stderr


@pytest.mark.skipif(sys.platform != "linux", reason="finds the writer through /proc")
def test_closing_a_log_whose_writer_died_raises_instead_of_returning_a_hash(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "events.sqlite", writer="process")
    (pid,) = _writer_children()
    os.kill(pid, 9)
    time.sleep(0.2)
    with pytest.raises(TradeloopError, match="without an answer"):
        log.close()  # nothing buffered: only the missing answer can tell
