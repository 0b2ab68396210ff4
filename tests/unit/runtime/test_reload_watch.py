"""ConfigReloader.watch: the running node notices a saved config file and reloads it.

Real files in a temporary folder, the real file watcher, a real bus. Each test is one
``asyncio.run`` with a hard time limit; waits are for an outcome, never fixed sleeps, except
where a test proves that something did *not* happen.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from tradeloop.config import ConfigRejected, ConfigReloaded, SnapshotStore, load_config
from tradeloop.core.bus import MessageBus
from tradeloop.core.errors import ConfigError
from tradeloop.core.ids import IdFactory
from tradeloop.core.message import Event
from tradeloop.runtime.reload import CallbackApplier, ConfigReloader, ReloadOutcome
from tradeloop.testkit import TestClock

LIMIT = 10.0  # seconds for a whole scenario; a normal run takes well under one
WAIT = 5.0  # seconds to wait for one reload


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_qty: int = 100
    venue: str = "SIM"


class CountingReloader(ConfigReloader[Limits]):
    """Counts the reloads the watcher starts."""

    calls = 0

    def reload(self) -> ReloadOutcome:
        self.calls += 1
        return super().reload()


class Watched:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "node.yaml"
        self.path.write_text("max_qty: 100\n", encoding="utf-8")
        clock = TestClock(0)
        ids = IdFactory(3)
        bus = MessageBus(clock, ids)
        self.events: list[Event] = []
        bus.subscribe(Event, self.events.append)
        self.applied: list[int] = []
        self.reloader = CountingReloader(
            self.path,
            Limits,
            bus=bus,
            clock=clock,
            ids=ids,
            snapshots=SnapshotStore.for_config(self.path),
            immutable={"venue": "the venue is fixed"},
            current=load_config(Limits, self.path, environ={}),
            environ={},
        )
        self.reloader.register("max_qty", CallbackApplier(lambda old, new: self.applied.append(new.max_qty)))

    async def next_event(self, seen: int) -> Event:
        """The event after the first ``seen`` ones, once the watcher has published it."""
        deadline = time.monotonic() + WAIT
        while len(self.events) <= seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"no reload within {WAIT} s; events so far: {self.events}")
            await asyncio.sleep(0.01)
        return self.events[seen]

    def run(self, scenario: Callable[[], Awaitable[None]]) -> None:
        async def main() -> None:
            stop = asyncio.Event()
            ready = asyncio.Event()
            task = asyncio.create_task(
                self.reloader.watch(stop=stop, ready=ready, debounce_ms=500, step_ms=20)
            )
            await asyncio.wait_for(ready.wait(), WAIT)
            try:
                await scenario()
            finally:
                stop.set()
                await asyncio.wait_for(task, WAIT)

        asyncio.run(asyncio.wait_for(main(), LIMIT))


@pytest.fixture
def watched(tmp_path: Path) -> Watched:
    return Watched(tmp_path)


def test_an_edit_saved_in_place_and_one_renamed_over_the_file_are_both_applied(watched: Watched) -> None:
    async def scenario() -> None:
        watched.path.write_text("max_qty: 50\n", encoding="utf-8")
        first = await watched.next_event(0)
        assert isinstance(first, ConfigReloaded)
        assert first.changed == ("max_qty",)

        # An editor's save: write a temporary file beside the config, rename it over the config.
        temporary = watched.path.with_name(".node.yaml.swp")
        temporary.write_text("max_qty: 25\n", encoding="utf-8")
        os.replace(temporary, watched.path)
        second = await watched.next_event(1)
        assert isinstance(second, ConfigReloaded)
        assert second.snapshot_id == 3

    watched.run(scenario)
    assert watched.applied == [50, 25]
    assert watched.reloader.current.max_qty == 25
    assert watched.reloader.calls == 2  # one reload per save, the temporary file ignored


def test_a_file_written_in_place_in_pieces_is_read_once_it_is_whole(watched: Watched) -> None:
    # A cut-off file is valid here (max_qty is optional): read half-way, it would apply the
    # default 100 and then 50, the setting switched to its default for a moment.
    async def scenario() -> None:
        watched.path.write_text("max_qty: 30\n", encoding="utf-8")
        assert isinstance(await watched.next_event(0), ConfigReloaded)
        with watched.path.open("w", encoding="utf-8") as out:
            out.write("venue: SIM\n")
            out.flush()
            await asyncio.sleep(0.35)  # a slow copy, a script, a loaded host
            out.write("max_qty: 50\n")
        assert isinstance(await watched.next_event(1), ConfigReloaded)
        await asyncio.sleep(0.8)  # no third reload follows

    watched.run(scenario)
    assert watched.applied == [30, 50]  # never the default 100 of the cut-off file
    assert len([e for e in watched.events if isinstance(e, ConfigReloaded)]) == 2


def test_a_config_path_that_is_a_symbolic_link_follows_edits_of_its_target(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "run").mkdir()
    real = tmp_path / "etc" / "paper.yaml"
    real.write_text("max_qty: 100\n", encoding="utf-8")
    (tmp_path / "run" / "node.yaml").symlink_to(real)
    watched = Watched(tmp_path / "run")  # writes the same text through the link

    async def scenario() -> None:
        real.write_text("max_qty: 40\n", encoding="utf-8")
        assert isinstance(await watched.next_event(0), ConfigReloaded)

    watched.run(scenario)
    assert watched.applied == [40]


def test_an_invalid_save_is_rejected_and_the_next_valid_save_applies(watched: Watched) -> None:
    async def scenario() -> None:
        watched.path.write_text("max_qty: lots\n", encoding="utf-8")
        rejected = await watched.next_event(0)
        assert isinstance(rejected, ConfigRejected)
        assert rejected.errors == (
            f"{watched.path}: max_qty: Input should be a valid integer, unable to parse string as an integer",
        )
        assert watched.reloader.current.max_qty == 100

        watched.path.write_text("max_qty: 100\nvenue: LIVE\n", encoding="utf-8")
        refused = await watched.next_event(1)
        assert isinstance(refused, ConfigRejected)
        assert refused.errors == ("venue: cannot change live: the venue is fixed",)

        watched.path.write_text("max_qty: 70\n", encoding="utf-8")
        assert isinstance(await watched.next_event(2), ConfigReloaded)

    watched.run(scenario)
    assert watched.applied == [70]


def test_a_deleted_file_is_waited_for_and_neighbours_are_ignored(watched: Watched) -> None:
    async def scenario() -> None:
        watched.path.unlink()
        (watched.path.parent / "other.yaml").write_text("max_qty: 1\n", encoding="utf-8")
        (watched.path.parent / "node.yaml~").write_text("max_qty: 1\n", encoding="utf-8")
        await asyncio.sleep(0.3)  # long enough for the watcher to have seen all three
        assert watched.events == []
        assert watched.reloader.calls == 0

        watched.path.write_text("max_qty: 60\n", encoding="utf-8")
        assert isinstance(await watched.next_event(0), ConfigReloaded)

    watched.run(scenario)
    assert watched.applied == [60]


def test_watching_needs_the_config_folder_to_exist(tmp_path: Path) -> None:
    watched = Watched(tmp_path)
    gone = ConfigReloader(
        tmp_path / "missing" / "node.yaml",
        Limits,
        bus=MessageBus(TestClock(0), IdFactory(0)),
        clock=TestClock(0),
        ids=IdFactory(0),
        snapshots=watched.reloader.snapshots,
        current=Limits(),
    )
    with pytest.raises(ConfigError, match=r"cannot watch, the folder .*missing does not exist"):
        asyncio.run(gone.watch())
