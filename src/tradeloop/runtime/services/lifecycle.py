"""The service lifecycle as a ``(state, trigger) -> state`` table.

::

    INITIALIZING --STARTED--> RUNNING --STOP--> STOPPING --STOPPED--> STOPPED --START--> INITIALIZING
         |  ^                  |  ^ |
         |  +----RESTART-------+  | +--DEGRADE--> DEGRADED --RECOVER--> RUNNING
         +--RESTART (retry)       |
    any live state --FAIL--> FAILED --RESTART--> INITIALIZING (an operator re-arms it)

A new service is INITIALIZING until its ``on_start`` completes. RESTART (a crash, or a failed
health check) takes a RUNNING or DEGRADED service back to INITIALIZING; a start attempt that
fails while INITIALIZING fires RESTART again (a self-transition, so every attempt is an
event). FAIL is the orchestrator giving up: too many restarts in the window, a configuration
error, or a stop that failed. An illegal trigger raises
:class:`~tradeloop.core.errors.InvalidStateTransition` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Final

from tradeloop.core.errors import InvalidStateTransition

__all__ = [
    "SERVICE_TRANSITIONS",
    "ServiceLifecycle",
    "ServiceState",
    "ServiceTrigger",
    "ServiceTransitionListener",
]


class ServiceState(StrEnum):
    """Where a service is in its life."""

    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    DEGRADED = "DEGRADED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


class ServiceTrigger(StrEnum):
    """What moves a service from one state to the next."""

    START = "START"
    STARTED = "STARTED"
    DEGRADE = "DEGRADE"
    RECOVER = "RECOVER"
    RESTART = "RESTART"
    STOP = "STOP"
    STOPPED = "STOPPED"
    FAIL = "FAIL"


_S = ServiceState
_T = ServiceTrigger

SERVICE_TRANSITIONS: Final[dict[tuple[ServiceState, ServiceTrigger], ServiceState]] = {
    (_S.INITIALIZING, _T.STARTED): _S.RUNNING,
    (_S.INITIALIZING, _T.RESTART): _S.INITIALIZING,
    (_S.INITIALIZING, _T.STOP): _S.STOPPING,
    (_S.INITIALIZING, _T.FAIL): _S.FAILED,
    (_S.RUNNING, _T.DEGRADE): _S.DEGRADED,
    (_S.RUNNING, _T.RESTART): _S.INITIALIZING,
    (_S.RUNNING, _T.STOP): _S.STOPPING,
    (_S.RUNNING, _T.FAIL): _S.FAILED,
    (_S.DEGRADED, _T.RECOVER): _S.RUNNING,
    (_S.DEGRADED, _T.RESTART): _S.INITIALIZING,
    (_S.DEGRADED, _T.STOP): _S.STOPPING,
    (_S.DEGRADED, _T.FAIL): _S.FAILED,
    (_S.STOPPING, _T.STOPPED): _S.STOPPED,
    (_S.STOPPING, _T.FAIL): _S.FAILED,
    (_S.STOPPED, _T.START): _S.INITIALIZING,
    (_S.FAILED, _T.RESTART): _S.INITIALIZING,
    (_S.FAILED, _T.STOP): _S.STOPPING,
}
"""Every legal transition; anything else raises."""

ServiceTransitionListener = Callable[[str, ServiceState, ServiceState, str], None]
"""Told of every transition: (service name, previous state, new state, reason)."""


class ServiceLifecycle:
    """The state of one service, moved only through :data:`SERVICE_TRANSITIONS`.

    Parameters
    ----------
    name:
        The service's name (in error messages and for the listener).
    listener:
        Told of every transition; the orchestrator installs one that publishes it.
    """

    __slots__ = ("_listener", "_name", "_state")

    def __init__(self, name: str, listener: ServiceTransitionListener | None = None) -> None:
        self._name = name
        self._state = ServiceState.INITIALIZING
        self._listener = listener

    @property
    def state(self) -> ServiceState:
        return self._state

    def set_listener(self, listener: ServiceTransitionListener | None) -> None:
        """Install (or remove, with ``None``) the callback told of every transition."""
        self._listener = listener

    def can(self, trigger: ServiceTrigger) -> bool:
        """Whether ``trigger`` is legal in the current state."""
        return (self._state, trigger) in SERVICE_TRANSITIONS

    def fire(self, trigger: ServiceTrigger, reason: str) -> ServiceState:
        """Apply ``trigger``; return the new state.

        Raises
        ------
        InvalidStateTransition
            If the trigger is not legal in the current state (the state is unchanged).
        """
        new = SERVICE_TRANSITIONS.get((self._state, trigger))
        if new is None:
            raise InvalidStateTransition(
                f"service {self._name}: {trigger.value} is not allowed in state {self._state.value}"
            )
        old, self._state = self._state, new
        if self._listener is not None:
            self._listener(self._name, old, new, reason)
        return new
