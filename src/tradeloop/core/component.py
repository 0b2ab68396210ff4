"""Component lifecycle as a ``(state, trigger) -> state`` table.

Public :meth:`Component.start`, :meth:`~Component.stop`, :meth:`~Component.reset` and
:meth:`~Component.dispose` are final; subclasses implement ``on_start`` and friends. An
illegal trigger raises :class:`~tradeloop.core.errors.InvalidStateTransition`, a hook that
raises leaves the component FAULTED, and every transition is reported to the listener the
owner installs (the runtime publishes it as an event).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Final, final

from tradeloop.core.errors import InvalidStateTransition

__all__ = ["Component", "ComponentState", "ComponentTrigger", "TRANSITIONS"]


class ComponentState(Enum):
    READY = "READY"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    RESETTING = "RESETTING"
    DISPOSING = "DISPOSING"
    DISPOSED = "DISPOSED"
    FAULTED = "FAULTED"


class ComponentTrigger(Enum):
    START = "START"
    START_COMPLETED = "START_COMPLETED"
    STOP = "STOP"
    STOP_COMPLETED = "STOP_COMPLETED"
    RESET = "RESET"
    RESET_COMPLETED = "RESET_COMPLETED"
    DISPOSE = "DISPOSE"
    DISPOSE_COMPLETED = "DISPOSE_COMPLETED"
    FAULT = "FAULT"


_S = ComponentState
_T = ComponentTrigger

TRANSITIONS: Final[dict[tuple[ComponentState, ComponentTrigger], ComponentState]] = {
    (_S.READY, _T.START): _S.STARTING,
    (_S.READY, _T.RESET): _S.RESETTING,
    (_S.READY, _T.DISPOSE): _S.DISPOSING,
    (_S.STARTING, _T.START_COMPLETED): _S.RUNNING,
    (_S.STARTING, _T.FAULT): _S.FAULTED,
    (_S.RUNNING, _T.STOP): _S.STOPPING,
    (_S.RUNNING, _T.FAULT): _S.FAULTED,
    (_S.STOPPING, _T.STOP_COMPLETED): _S.STOPPED,
    (_S.STOPPING, _T.FAULT): _S.FAULTED,
    (_S.STOPPED, _T.START): _S.STARTING,
    (_S.STOPPED, _T.RESET): _S.RESETTING,
    (_S.STOPPED, _T.DISPOSE): _S.DISPOSING,
    (_S.RESETTING, _T.RESET_COMPLETED): _S.READY,
    (_S.RESETTING, _T.FAULT): _S.FAULTED,
    (_S.DISPOSING, _T.DISPOSE_COMPLETED): _S.DISPOSED,
    (_S.DISPOSING, _T.FAULT): _S.FAULTED,
    (_S.FAULTED, _T.DISPOSE): _S.DISPOSING,
    (_S.FAULTED, _T.RESET): _S.RESETTING,
}

TransitionListener = Callable[[str, ComponentState, ComponentState], None]


class Component:
    """Something with a lifecycle: strategies, engines, venues."""

    def __init__(self, name: str) -> None:
        self.name: Final[str] = name
        self._state = ComponentState.READY
        self._listener: TransitionListener | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {self._state.value})"

    @property
    def state(self) -> ComponentState:
        return self._state

    @property
    def is_running(self) -> bool:
        return self._state is ComponentState.RUNNING

    def set_transition_listener(self, listener: TransitionListener | None) -> None:
        """Install the callback told of every transition (name, old, new)."""
        self._listener = listener

    def _fire(self, trigger: ComponentTrigger) -> None:
        new = TRANSITIONS.get((self._state, trigger))
        if new is None:
            raise InvalidStateTransition(
                f"{self.name}: {trigger.value} is not allowed in state {self._state.value}"
            )
        old, self._state = self._state, new
        if self._listener is not None:
            self._listener(self.name, old, new)

    def _run(self, begin: ComponentTrigger, hook: Callable[[], None], done: ComponentTrigger) -> None:
        self._fire(begin)
        try:
            hook()
        except Exception:
            self._fire(ComponentTrigger.FAULT)
            raise
        self._fire(done)

    @final
    def start(self) -> None:
        self._run(ComponentTrigger.START, self.on_start, ComponentTrigger.START_COMPLETED)

    @final
    def stop(self) -> None:
        self._run(ComponentTrigger.STOP, self.on_stop, ComponentTrigger.STOP_COMPLETED)

    @final
    def reset(self) -> None:
        self._run(ComponentTrigger.RESET, self.on_reset, ComponentTrigger.RESET_COMPLETED)

    @final
    def dispose(self) -> None:
        self._run(ComponentTrigger.DISPOSE, self.on_dispose, ComponentTrigger.DISPOSE_COMPLETED)

    def on_start(self) -> None:
        """Hook: acquire resources, subscribe. Default does nothing."""

    def on_stop(self) -> None:
        """Hook: release what ``on_start`` acquired. Default does nothing."""

    def on_reset(self) -> None:
        """Hook: return to the state after construction. Default does nothing."""

    def on_dispose(self) -> None:
        """Hook: release everything for good. Default does nothing."""
