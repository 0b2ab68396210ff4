"""The orchestrator: dependency order, crashes and restarts, health, metrics, stop."""

from __future__ import annotations

import asyncio

import pytest

from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.message import HandlerFailed
from tradeloop.model.events import Alert, AlertSeverity
from tradeloop.runtime.services import (
    Backoff,
    HealthReport,
    Orchestrator,
    Service,
    ServiceStartError,
    ServiceState,
    ServiceStateChanged,
)
from tradeloop.testkit import aapl_equity, make_trade

from .kit import Crashing, Recorder, Scripted, until

S = ServiceState


def stack(journal: list[str]) -> list[Scripted]:
    """store <- feed <- indicators <- strategies, and execution <- strategies; added out of order."""
    return [
        Scripted("strategies", journal, depends_on=("indicators", "execution")),
        Scripted("indicators", journal, depends_on=("feed",)),
        Scripted("feed", journal, depends_on=("store",)),
        Scripted("execution", journal, depends_on=("store",)),
        Scripted("store", journal),
    ]


# -- dependency order ------------------------------------------------------------------------


def test_services_start_after_their_dependencies_and_stop_in_reverse() -> None:
    rec = Recorder()
    journal: list[str] = []
    orch = rec.orchestrator()
    for service in stack(journal):
        orch.add(service)

    async def scenario() -> None:
        await orch.start()
        assert all(s.state is S.RUNNING for s in orch.services)
        assert await orch.stop()

    asyncio.run(scenario())

    starts = [line.split()[1] for line in journal if line.startswith("start")]
    stops = [line.split()[1] for line in journal if line.startswith("stop")]
    assert starts == orch.start_order() == ["store", "feed", "indicators", "execution", "strategies"]
    assert stops == list(reversed(starts))
    assert all(s.state is S.STOPPED for s in orch.services)
    assert rec.transitions("feed") == [
        ("INITIALIZING", "RUNNING"),
        ("RUNNING", "STOPPING"),
        ("STOPPING", "STOPPED"),
    ]


def test_a_missing_dependency_is_named_before_anything_starts() -> None:
    rec = Recorder()
    journal: list[str] = []
    orch = rec.orchestrator()
    orch.add(Scripted("store", journal))
    orch.add(Scripted("strategies", journal, depends_on=("store", "feed")))

    with pytest.raises(TradeloopError, match=r"strategies depends on feed, which is not added"):
        asyncio.run(orch.start())
    assert journal == []
    assert not orch.is_running


def test_a_dependency_cycle_is_spelled_out_before_anything_starts() -> None:
    rec = Recorder()
    journal: list[str] = []
    orch = rec.orchestrator()
    orch.add(Scripted("store", journal))
    orch.add(Scripted("a", journal, depends_on=("store", "c")))
    orch.add(Scripted("b", journal, depends_on=("a",)))
    orch.add(Scripted("c", journal, depends_on=("b",)))

    with pytest.raises(TradeloopError, match=r"cycle: a -> c -> b -> a"):
        asyncio.run(orch.start())
    assert journal == []


def test_services_are_unique_by_name_and_added_before_start() -> None:
    rec = Recorder()
    orch = rec.orchestrator()
    orch.add(Scripted("store", []))
    with pytest.raises(TradeloopError, match="already added"):
        orch.add(Scripted("store", []))

    async def scenario() -> None:
        await orch.start()
        with pytest.raises(TradeloopError, match="before the orchestrator starts"):
            orch.add(Scripted("late", []))
        await orch.stop()

    asyncio.run(scenario())
    with pytest.raises(KeyError, match="no service 'nope' \\(services: store\\)"):
        orch.service("nope")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"health_interval_s": 0}, "health_interval_s"),
        ({"restart_window_s": float("nan")}, "restart_window_s"),
        ({"max_restarts": -1}, "max_restarts"),
        ({"stop_timeout_s": -1.0}, "stop_timeout_s"),
    ],
)
def test_bad_orchestrator_settings_are_refused_with_their_name(
    options: dict[str, float], message: str
) -> None:
    with pytest.raises(TradeloopError, match=message):
        Recorder().orchestrator(**options)


def test_backoff_grows_by_its_factor_up_to_its_cap_and_refuses_bad_values() -> None:
    backoff = Backoff(initial_s=0.5, max_s=3.0, factor=2.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.delay(10_000) == 3.0  # no float overflow on a long-lived node
    with pytest.raises(TradeloopError, match="factor"):
        Backoff(factor=0.5)
    with pytest.raises(TradeloopError, match="max_s"):
        Backoff(initial_s=2.0, max_s=1.0)


# -- crashes and restarts --------------------------------------------------------------------


def test_a_crashing_task_is_restarted_with_growing_backoff_then_failed_with_a_critical_alert() -> None:
    rec = Recorder()
    journal: list[str] = []
    orch = rec.orchestrator(max_restarts=3, restart_backoff=Backoff(0.02, 0.05, 2.0))
    feed = Crashing("feed", journal)
    orch.add(feed)

    async def scenario() -> None:
        await orch.start()
        await until(lambda: feed.state is S.FAILED)
        await orch.stop()

    asyncio.run(scenario())

    assert feed.runs == 4  # the first run and three restarts
    gaps = [b - a for a, b in zip(feed.start_times, feed.start_times[1:], strict=False)]
    for gap, delay in zip(gaps, (0.02, 0.04, 0.05), strict=True):  # 0.08 capped at 0.05
        assert gap >= delay
    restarts = [e.reason for e in rec.of(ServiceStateChanged) if e.state == "INITIALIZING"]
    assert restarts == [
        "crashed: ConnectionError: feed lost its connection; restart 1 of 3 in 0.02 s",
        "crashed: ConnectionError: feed lost its connection; restart 2 of 3 in 0.04 s",
        "crashed: ConnectionError: feed lost its connection; restart 3 of 3 in 0.05 s",
    ]
    (alert,) = rec.of(Alert)
    assert (alert.severity, alert.source, alert.kind) == (
        AlertSeverity.CRITICAL,
        "orchestrator",
        "service_failed",
    )
    assert "service feed failed: crashed: ConnectionError" in alert.message
    assert "gave up after 3 restarts in the last 60 s (max_restarts 3)" in alert.message
    # on_stop ran before every restart and once on failure; the final stop did not repeat it
    assert journal.count("stop feed") == 4
    assert orch.metrics()["restarts"] == {"feed": 3}


def test_restarts_older_than_the_window_no_longer_count() -> None:
    rec = Recorder()
    orch = rec.orchestrator(max_restarts=1, restart_window_s=0.03, restart_backoff=Backoff(0.0, 0.0, 1.0))
    feed = Crashing("feed", [], crash_after_s=0.05)  # crashes less often than the window
    orch.add(feed)

    async def scenario() -> None:
        await orch.start()
        await until(lambda: feed.runs >= 4)
        assert feed.state is not S.FAILED
        await orch.stop()

    asyncio.run(scenario())
    assert rec.of(Alert) == []


def test_a_service_that_recovers_after_a_restart_keeps_running_and_is_counted() -> None:
    rec = Recorder()
    orch = rec.orchestrator()
    feed = Crashing("feed", [])

    async def scenario() -> None:
        orch.add(feed)
        await orch.start()
        await until(lambda: feed.runs == 1 and feed.state is S.INITIALIZING)
        feed.crash = False  # the venue is back
        await until(lambda: feed.state is S.RUNNING and feed.runs == 2)
        await asyncio.sleep(0.02)
        assert feed.state is S.RUNNING
        health = orch.health()
        assert health["status"] == "ok"
        assert health["services"]["feed"]["restarts"] == 1
        assert health["services"]["feed"]["last_error"] == "ConnectionError: feed lost its connection"
        await orch.stop()

    asyncio.run(scenario())


def test_a_failed_start_is_retried_before_the_dependents_start() -> None:
    rec = Recorder()
    journal: list[str] = []
    orch = rec.orchestrator()
    orch.add(Scripted("store", journal, fail_starts=2))
    orch.add(Scripted("feed", journal, depends_on=("store",)))

    async def scenario() -> None:
        await orch.start()
        await orch.stop()

    asyncio.run(scenario())
    assert journal[:6] == [
        "start store",
        "stop store",
        "start store",
        "stop store",
        "start store",
        "start feed",
    ]


def test_a_service_that_never_starts_fails_the_start_and_the_others_are_stopped() -> None:
    rec = Recorder()
    journal: list[str] = []
    orch = rec.orchestrator(max_restarts=1)
    orch.add(Scripted("store", journal))
    orch.add(Scripted("feed", journal, depends_on=("store",), fail_starts=99))
    orch.add(Scripted("strategies", journal, depends_on=("feed",)))

    with pytest.raises(
        ServiceStartError, match="feed could not be started: RuntimeError: feed cannot connect"
    ):
        asyncio.run(orch.start())

    assert "start strategies" not in journal
    assert journal[-1] == "stop store"
    assert orch.service("store").state is S.STOPPED
    assert orch.service("feed").state is S.STOPPED  # FAILED, then stopped with the rest
    assert orch.service("strategies").state is S.INITIALIZING  # never started
    assert len(rec.of(Alert)) == 1


class SlowToConnect(Scripted):
    async def on_start(self) -> None:
        await super().on_start()
        if len(self.start_times) == 1:
            await asyncio.sleep(10)  # the first connect hangs


def test_an_on_start_that_hangs_is_cut_off_and_retried() -> None:
    rec = Recorder()
    journal: list[str] = []
    orch = rec.orchestrator(start_timeout_s=0.02)
    feed = SlowToConnect("feed", journal)
    orch.add(feed)

    async def scenario() -> None:
        await orch.start()
        assert feed.state is S.RUNNING
        await orch.stop()

    asyncio.run(scenario())
    assert journal == ["start feed", "stop feed", "start feed", "stop feed"]
    assert (
        orch.health()["services"]["feed"]["last_error"]
        == "TradeloopError: on_start did not finish within 0.02 s"
    )


def test_a_configuration_error_at_start_fails_at_once_without_retries() -> None:
    rec = Recorder()
    journal: list[str] = []
    orch = rec.orchestrator()
    orch.add(Scripted("feed", journal, fail_starts=1, start_error=ConfigError("feed: unknown venue 'XX'")))

    with pytest.raises(ServiceStartError, match="unknown venue"):
        asyncio.run(orch.start())
    assert journal == ["start feed", "stop feed"]
    assert "not retried" in rec.of(Alert)[0].message


def test_an_operator_restart_rearms_a_failed_service_and_its_dependents_recover() -> None:
    rec = Recorder()
    orch = rec.orchestrator(max_restarts=0)
    feed = Crashing("feed", [])
    strategies = Scripted("strategies", [], depends_on=("feed",))
    orch.add(feed)
    orch.add(strategies)

    async def scenario() -> None:
        await orch.start()
        await until(lambda: feed.state is S.FAILED)
        assert strategies.state is S.DEGRADED
        assert orch.health()["status"] == "failed"
        feed.crash = False
        assert await orch.restart("feed", "venue fixed")
        assert feed.state is S.RUNNING
        assert strategies.state is S.RUNNING
        await orch.stop()

    asyncio.run(scenario())
    reasons = [
        e.reason for e in rec.of(ServiceStateChanged) if e.service == "strategies" and e.state == "DEGRADED"
    ]
    assert reasons == ["dependency feed is FAILED"]


def test_dependents_of_a_restarting_service_are_degraded_transitively_and_recover_with_it() -> None:
    rec = Recorder()
    journal: list[str] = []
    orch = rec.orchestrator(restart_backoff=Backoff(0.05, 0.05, 1.0))
    feed = Crashing("feed", journal, crash_after_s=0.01)
    orch.add(feed)
    orch.add(Scripted("indicators", journal, depends_on=("feed",)))
    orch.add(Scripted("strategies", journal, depends_on=("indicators",)))
    orch.add(Scripted("execution", journal))

    async def scenario() -> None:
        await orch.start()
        await until(lambda: feed.state is S.INITIALIZING)
        states = orch.metrics()["states"]
        assert states == {
            "feed": "INITIALIZING",
            "indicators": "DEGRADED",
            "strategies": "DEGRADED",
            "execution": "RUNNING",
        }
        assert orch.health()["services"]["strategies"]["detail"] == "dependency feed is INITIALIZING"
        feed.crash = False
        await until(lambda: feed.state is S.RUNNING)
        assert orch.service("strategies").state is S.RUNNING
        await orch.stop()

    asyncio.run(scenario())
    assert "stop strategies" in journal  # degraded dependents were never stopped by the restart
    assert journal.count("start strategies") == 1


# -- health ----------------------------------------------------------------------------------


def test_a_degraded_health_check_degrades_the_service_and_a_good_one_recovers_it() -> None:
    rec = Recorder()
    orch = rec.orchestrator()
    feed = Scripted("feed", [])
    orch.add(feed)

    async def scenario() -> None:
        await orch.start()
        feed.report = HealthReport.degraded("quotes 4 s behind")
        await orch.check_health()
        assert feed.state is S.DEGRADED
        assert orch.health()["status"] == "degraded"
        assert orch.health()["services"]["feed"] == {
            "state": "DEGRADED",
            "health": "degraded",
            "detail": "health: quotes 4 s behind",
            "restarts": 0,
            "last_error": "",
        }
        await orch.check_health()  # still degraded: no second transition
        feed.report = HealthReport.ok()
        await orch.check_health()
        assert feed.state is S.RUNNING
        await orch.stop()

    asyncio.run(scenario())
    assert rec.transitions("feed")[1:3] == [("RUNNING", "DEGRADED"), ("DEGRADED", "RUNNING")]


def test_health_checks_run_every_interval_on_their_own() -> None:
    rec = Recorder()
    orch = rec.orchestrator(health_interval_s=0.01)
    feed = Scripted("feed", [])
    orch.add(feed)

    async def scenario() -> None:
        await orch.start()
        feed.report = HealthReport.degraded("slow")
        await until(lambda: feed.state is S.DEGRADED)
        feed.report = HealthReport.ok()
        await until(lambda: feed.state is S.RUNNING)
        assert orch.metrics()["orchestrator"]["health_checks"] >= 2
        await orch.stop()

    asyncio.run(scenario())


def test_a_failed_health_check_restarts_the_service() -> None:
    rec = Recorder()
    journal: list[str] = []
    orch = rec.orchestrator()
    feed = Scripted("feed", journal)
    orch.add(feed)

    async def scenario() -> None:
        await orch.start()
        feed.report = HealthReport.failed("socket closed")
        await orch.check_health()
        feed.report = HealthReport.ok()
        await until(lambda: journal.count("start feed") == 2 and feed.state is S.RUNNING)
        await orch.stop()

    asyncio.run(scenario())
    assert journal[:3] == ["start feed", "stop feed", "start feed"]
    assert ("RUNNING", "INITIALIZING") in rec.transitions("feed")
    assert any("health check failed: socket closed" in e.reason for e in rec.of(ServiceStateChanged))


class Hanging(Service):
    def __init__(self, name: str, *, raise_in_check: bool = False) -> None:
        super().__init__(name)
        self.raise_in_check = raise_in_check

    async def health(self) -> HealthReport:
        if self.raise_in_check:
            raise ValueError("check is broken")
        await asyncio.sleep(10)
        return HealthReport.ok()


def test_a_check_that_hangs_or_raises_reads_degraded_not_failed() -> None:
    rec = Recorder()
    orch = rec.orchestrator(health_timeout_s=0.01)
    orch.add(Hanging("slow"))
    orch.add(Hanging("broken", raise_in_check=True))

    async def scenario() -> None:
        await orch.start()
        await orch.check_health()
        services = orch.health()["services"]
        assert services["slow"]["detail"] == "health: health check timed out after 0.01 s"
        assert services["broken"]["detail"] == "health: health check raised ValueError: check is broken"
        assert {s["state"] for s in services.values()} == {"DEGRADED"}
        await orch.stop()

    asyncio.run(scenario())


# -- metrics ---------------------------------------------------------------------------------


class Broken(Service):
    def metrics(self) -> dict[str, float | int]:
        raise RuntimeError("gauge exploded")


def test_one_call_returns_every_service_the_bus_and_the_orchestrator() -> None:
    rec = Recorder()
    orch = rec.orchestrator()
    feed = Scripted("feed", [])
    orch.add(feed)
    orch.add(Broken("broken"))

    async def scenario() -> None:
        await orch.start()
        feed.counter = 41
        rec.bus.publish(make_trade(aapl_equity(), "100.00"))
        await asyncio.sleep(0.01)
        metrics = orch.metrics()
        assert metrics["services"] == {"feed": {"counter": 41}, "broken": {}}
        assert metrics["errors"] == {"broken": "RuntimeError: gauge exploded"}
        assert metrics["states"] == {"feed": "RUNNING", "broken": "RUNNING"}
        assert metrics["bus"]["published"]["ServiceStateChanged"] == 2
        assert metrics["bus"]["published"]["TradeTick"] == 1
        assert metrics["bus"]["queued"] == {"CRITICAL": 0, "HIGH": 0, "NORMAL": 0, "LOW": 0}
        own = metrics["orchestrator"]
        assert (own["services"], own["running"], own["failed"], own["restarts"]) == (2, 2, 0, 0)
        assert own["uptime_s"] >= 0.01
        await orch.stop()

    asyncio.run(scenario())
    assert orch.metrics()["orchestrator"]["uptime_s"] == 0.0
    assert orch.health()["status"] == "stopped"


# -- stop ------------------------------------------------------------------------------------


class Stubborn(Service):
    """Its task ignores cancellation for a while; its on_stop may hang or raise."""

    def __init__(self, name: str, *, stop: str = "ok", depends_on: tuple[str, ...] = ()) -> None:
        super().__init__(name, depends_on=depends_on)
        self.stop_mode = stop
        self.stopped = False

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def on_stop(self) -> None:
        if self.stop_mode == "hang":
            await asyncio.sleep(10)
        if self.stop_mode == "raise":
            raise OSError("flush failed")
        self.stopped = True


def test_stop_cancels_tasks_and_a_service_that_overruns_or_raises_is_failed_while_the_rest_stop() -> None:
    rec = Recorder()
    orch = rec.orchestrator()
    store = Stubborn("store")
    orch.add(store)
    orch.add(Stubborn("feed", stop="raise", depends_on=("store",)))
    orch.add(Stubborn("strategies", stop="hang", depends_on=("feed",)))

    async def scenario() -> bool:
        await orch.start()
        loop = asyncio.get_running_loop()
        began = loop.time()
        clean = await orch.stop(timeout=0.05)
        assert loop.time() - began < 1.0
        return clean

    assert asyncio.run(scenario()) is False
    assert store.stopped
    assert orch.metrics()["states"] == {"store": "STOPPED", "feed": "FAILED", "strategies": "FAILED"}
    messages = sorted(a.message for a in rec.of(Alert))
    assert messages == [
        "service feed failed: on_stop failed: OSError: flush failed",
        "service strategies failed: on_stop did not finish within 0.05 s",
    ]
    assert rec.of(HandlerFailed) == []


def test_stopping_twice_and_restarting_a_stopped_orchestrator_work() -> None:
    rec = Recorder()
    journal: list[str] = []
    orch = rec.orchestrator()
    orch.add(Scripted("feed", journal))

    async def scenario() -> None:
        await orch.start()
        assert await orch.stop()
        assert await orch.stop()
        await orch.start()
        assert orch.service("feed").state is S.RUNNING
        await orch.stop()

    asyncio.run(scenario())
    assert journal == ["start feed", "stop feed", "start feed", "stop feed"]


def test_restart_needs_a_running_orchestrator() -> None:
    orch: Orchestrator = Recorder().orchestrator()
    orch.add(Scripted("feed", []))
    with pytest.raises(TradeloopError, match="not running"):
        asyncio.run(orch.restart("feed"))
