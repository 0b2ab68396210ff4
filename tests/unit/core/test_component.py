"""Component lifecycle: the (state, trigger) table, public actions, faults, listeners."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tradeloop.core import Component, ComponentState, ComponentTrigger, InvalidStateTransition
from tradeloop.core.component import TRANSITIONS

S = ComponentState
T = ComponentTrigger

# The lifecycle, written from its meaning: a public action moves through a transient state
# (STARTING, STOPPING, RESETTING, DISPOSING) that completes or faults; a faulted component
# can only be reset or disposed; a disposed one is final.
EXPECTED_TABLE: dict[tuple[ComponentState, ComponentTrigger], ComponentState] = {
    (S.READY, T.START): S.STARTING,
    (S.READY, T.RESET): S.RESETTING,
    (S.READY, T.DISPOSE): S.DISPOSING,
    (S.STARTING, T.START_COMPLETED): S.RUNNING,
    (S.STARTING, T.FAULT): S.FAULTED,
    (S.RUNNING, T.STOP): S.STOPPING,
    (S.RUNNING, T.FAULT): S.FAULTED,
    (S.STOPPING, T.STOP_COMPLETED): S.STOPPED,
    (S.STOPPING, T.FAULT): S.FAULTED,
    (S.STOPPED, T.START): S.STARTING,
    (S.STOPPED, T.RESET): S.RESETTING,
    (S.STOPPED, T.DISPOSE): S.DISPOSING,
    (S.RESETTING, T.RESET_COMPLETED): S.READY,
    (S.RESETTING, T.FAULT): S.FAULTED,
    (S.DISPOSING, T.DISPOSE_COMPLETED): S.DISPOSED,
    (S.DISPOSING, T.FAULT): S.FAULTED,
    (S.FAULTED, T.RESET): S.RESETTING,
    (S.FAULTED, T.DISPOSE): S.DISPOSING,
}

ACTIONS = ("start", "stop", "reset", "dispose")
ACTION_TRIGGER = {"start": T.START, "stop": T.STOP, "reset": T.RESET, "dispose": T.DISPOSE}
ACTION_DONE = {
    "start": T.START_COMPLETED,
    "stop": T.STOP_COMPLETED,
    "reset": T.RESET_COMPLETED,
    "dispose": T.DISPOSE_COMPLETED,
}
STABLE_STATES = (S.READY, S.RUNNING, S.STOPPED, S.DISPOSED, S.FAULTED)


class Probe(Component):
    """Counts hook calls; a hook named in ``failing`` raises."""

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        super().__init__("probe")
        self.failing = set(failing)
        self.calls: list[str] = []
        self.transitions: list[tuple[str, ComponentState, ComponentState]] = []
        self.set_transition_listener(lambda name, old, new: self.transitions.append((name, old, new)))

    def _hook(self, action: str) -> None:
        self.calls.append(action)
        if action in self.failing:
            raise RuntimeError(f"{action} failed")

    def on_start(self) -> None:
        self._hook("start")

    def on_stop(self) -> None:
        self._hook("stop")

    def on_reset(self) -> None:
        self._hook("reset")

    def on_dispose(self) -> None:
        self._hook("dispose")


def act(component: Component, action: str) -> None:
    getattr(component, action)()


def probe_in(state: ComponentState, failing: frozenset[str] = frozenset()) -> Probe:
    """A probe brought to a stable ``state`` through the public API, with a clean record."""
    probe = Probe()
    path: dict[ComponentState, list[str]] = {
        S.READY: [],
        S.RUNNING: ["start"],
        S.STOPPED: ["start", "stop"],
        S.DISPOSED: ["dispose"],
    }
    if state is S.FAULTED:
        probe.failing = {"start"}
        with pytest.raises(RuntimeError):
            probe.start()
    else:
        for action in path[state]:
            act(probe, action)
    assert probe.state is state
    probe.failing = set(failing)
    probe.calls.clear()
    probe.transitions.clear()
    return probe


def legal_result(state: ComponentState, action: str) -> ComponentState | None:
    begin = EXPECTED_TABLE.get((state, ACTION_TRIGGER[action]))
    if begin is None:
        return None
    return EXPECTED_TABLE[(begin, ACTION_DONE[action])]


LEGAL = [(s, a) for s in STABLE_STATES for a in ACTIONS if legal_result(s, a) is not None]
ILLEGAL = [(s, a) for s in STABLE_STATES for a in ACTIONS if legal_result(s, a) is None]


def test_transition_table_matches_the_lifecycle() -> None:
    assert TRANSITIONS == EXPECTED_TABLE


def test_every_stable_state_has_a_legal_way_out_except_disposed() -> None:
    exits = {s for s, _ in LEGAL}
    assert exits == {S.READY, S.RUNNING, S.STOPPED, S.FAULTED}


@pytest.mark.parametrize(("state", "action"), LEGAL)
def test_legal_action_runs_its_hook_and_reports_both_transitions(state: ComponentState, action: str) -> None:
    probe = probe_in(state)
    act(probe, action)
    begin = EXPECTED_TABLE[(state, ACTION_TRIGGER[action])]
    end = legal_result(state, action)
    assert probe.state is end
    assert probe.calls == [action]
    assert probe.transitions == [("probe", state, begin), ("probe", begin, end)]
    assert probe.is_running == (end is S.RUNNING)


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_illegal_action_raises_and_changes_nothing(state: ComponentState, action: str) -> None:
    probe = probe_in(state)
    with pytest.raises(
        InvalidStateTransition, match=f"{action.upper()} is not allowed in state {state.value}"
    ):
        act(probe, action)
    assert probe.state is state
    assert probe.calls == []
    assert probe.transitions == []


@pytest.mark.parametrize(("state", "action"), LEGAL)
def test_raising_hook_leaves_the_component_faulted_and_propagates(state: ComponentState, action: str) -> None:
    probe = probe_in(state, failing=frozenset({action}))
    with pytest.raises(RuntimeError, match=f"{action} failed"):
        act(probe, action)
    begin = EXPECTED_TABLE[(state, ACTION_TRIGGER[action])]
    assert probe.state is S.FAULTED
    assert probe.transitions == [("probe", state, begin), ("probe", begin, S.FAULTED)]


def test_faulted_component_recovers_by_reset_and_runs_again() -> None:
    probe = probe_in(S.FAULTED)
    probe.reset()
    probe.start()
    assert probe.is_running


def test_public_action_from_inside_a_hook_is_illegal_and_faults_the_component() -> None:
    class Reentrant(Component):
        def on_start(self) -> None:
            self.stop()  # STARTING has no STOP trigger

    comp = Reentrant("reentrant")
    with pytest.raises(InvalidStateTransition):
        comp.start()
    assert comp.state is S.FAULTED


def test_default_hooks_do_nothing_and_full_cycle_ends_disposed() -> None:
    comp = Component("plain")
    seen: list[tuple[ComponentState, ComponentState]] = []
    comp.set_transition_listener(lambda _name, old, new: seen.append((old, new)))
    steps: list[Callable[[], None]] = [comp.start, comp.stop, comp.reset, comp.start, comp.stop, comp.dispose]
    for step in steps:
        step()
    assert comp.state is S.DISPOSED
    assert len(seen) == 2 * len(steps)
    comp.set_transition_listener(None)
    with pytest.raises(InvalidStateTransition):
        comp.start()


def test_public_actions_are_final() -> None:
    # typing.final marks them; a subclass overriding them is a type error (checked by mypy),
    # and at run time the decorator records the intent.
    for action in ACTIONS:
        assert getattr(getattr(Component, action), "__final__", False) is True
