"""Events of the orchestrator and the cycle scheduler.

Both ride the LOW lane: they are monitoring, and under overload the bus drops the oldest of
them rather than slow trading down. What must not be lost is raised separately on the HIGH
lane: a service that ends FAILED also publishes an :class:`~tradeloop.model.events.Alert`, and
a cycle step that raises is reported as :class:`~tradeloop.core.message.HandlerFailed`.
"""

from __future__ import annotations

from typing import ClassVar

from tradeloop.core.message import Event, Lane

__all__ = ["CycleCompleted", "ServiceStateChanged"]


class ServiceStateChanged(Event, frozen=True, kw_only=True, gc=False):
    """A service moved through its lifecycle table (``previous`` to ``state``, and why)."""

    LANE: ClassVar[Lane] = Lane.LOW

    service: str
    previous: str
    state: str
    reason: str


class CycleCompleted(Event, frozen=True, kw_only=True, gc=False):
    """One scan cycle ended, completed or cut short by a step that raised.

    ``step_latency_ns`` holds the latency of every step that ran, by step name, in the order
    they ran; ``failed_step`` and ``error`` are set when a step raised (the steps after it did
    not run). ``markets`` is what the scan returned, ``opportunities`` the analyses that found
    something, ``candidates`` what passed risk filtering, ``executed`` what the execute step
    reported acting on; ``analysis_errors`` the markets whose analysis raised or timed out
    (isolated: the other markets were still analysed).
    """

    LANE: ClassVar[Lane] = Lane.LOW

    cycle: int
    ok: bool
    step_latency_ns: dict[str, int]
    total_ns: int
    markets: int = 0
    opportunities: int = 0
    candidates: int = 0
    executed: int = 0
    analysis_errors: int = 0
    failed_step: str | None = None
    error: str | None = None
