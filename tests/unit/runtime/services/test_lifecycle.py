"""The service lifecycle table: legal paths, illegal triggers, reported transitions."""

from __future__ import annotations

import pytest

from tradeloop.core.errors import InvalidStateTransition, TradeloopError
from tradeloop.runtime.services import (
    SERVICE_TRANSITIONS,
    Service,
    ServiceLifecycle,
    ServiceState,
    ServiceTrigger,
)

S, T = ServiceState, ServiceTrigger


def test_a_new_service_initializes_runs_degrades_recovers_and_stops_through_the_table() -> None:
    seen: list[tuple[str, ServiceState, ServiceState, str]] = []
    life = ServiceLifecycle("feed", lambda *change: seen.append(change))

    for trigger in (T.STARTED, T.DEGRADE, T.RECOVER, T.STOP, T.STOPPED, T.START, T.STARTED):
        life.fire(trigger, trigger.value.lower())

    assert [(old, new) for _, old, new, _ in seen] == [
        (S.INITIALIZING, S.RUNNING),
        (S.RUNNING, S.DEGRADED),
        (S.DEGRADED, S.RUNNING),
        (S.RUNNING, S.STOPPING),
        (S.STOPPING, S.STOPPED),
        (S.STOPPED, S.INITIALIZING),
        (S.INITIALIZING, S.RUNNING),
    ]
    assert {name for name, *_ in seen} == {"feed"}
    assert seen[1][3] == "degrade"


def test_restart_returns_to_initializing_and_a_failed_attempt_restarts_again() -> None:
    life = ServiceLifecycle("feed")
    life.fire(T.STARTED, "up")

    assert life.fire(T.RESTART, "crashed") is S.INITIALIZING
    assert life.fire(T.RESTART, "start failed") is S.INITIALIZING
    assert life.fire(T.FAIL, "gave up") is S.FAILED
    assert life.fire(T.RESTART, "operator re-armed it") is S.INITIALIZING


@pytest.mark.parametrize(
    ("path", "trigger"),
    [
        ((), T.RECOVER),  # INITIALIZING cannot recover
        ((), T.START),  # a new service is already initializing
        ((T.STARTED,), T.STARTED),  # RUNNING cannot start twice
        ((T.STARTED,), T.RECOVER),  # only DEGRADED recovers
        ((T.STARTED, T.DEGRADE), T.DEGRADE),
        ((T.STARTED, T.STOP), T.START),  # STOPPING must finish first
        ((T.STARTED, T.STOP, T.STOPPED), T.STOP),
        ((T.STARTED, T.STOP, T.STOPPED), T.RESTART),
        ((T.FAIL,), T.STARTED),  # FAILED comes back only through RESTART
        ((T.FAIL,), T.DEGRADE),
    ],
)
def test_an_illegal_trigger_raises_and_leaves_the_state_and_listener_untouched(
    path: tuple[ServiceTrigger, ...], trigger: ServiceTrigger
) -> None:
    life = ServiceLifecycle("feed")
    for step in path:
        life.fire(step, "setup")
    before = life.state
    seen: list[object] = []
    life.set_listener(lambda *change: seen.append(change))

    with pytest.raises(InvalidStateTransition, match=f"feed: {trigger.value} is not allowed in state"):
        life.fire(trigger, "bad")

    assert life.state is before
    assert seen == []
    assert not life.can(trigger)


def test_every_state_is_reachable_and_failed_is_reachable_from_every_live_state() -> None:
    reached = {S.INITIALIZING} | set(SERVICE_TRANSITIONS.values())
    assert reached == set(ServiceState)
    for state in (S.INITIALIZING, S.RUNNING, S.DEGRADED, S.STOPPING):
        assert SERVICE_TRANSITIONS[(state, T.FAIL)] is S.FAILED


def test_a_service_needs_a_name_and_cannot_depend_on_itself() -> None:
    with pytest.raises(TradeloopError, match="needs a name"):
        Service("")
    with pytest.raises(TradeloopError, match="cannot depend on itself"):
        Service("feed", depends_on=("feed",))
    assert Service("b", depends_on=("a", "a")).depends_on == ("a",)
    assert not Service("plain").has_task
