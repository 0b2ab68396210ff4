"""Injected venue API errors: a submit that fails as a call, not as a refusal of the order.

With ``FaultConfig.api_error_probability`` each new order fails, with that probability, the
way a real venue's API call does (an HTTP 5xx, a timeout): the venue reports
``VenueErrorOccurred`` (operation ``submit_order``) and the order is answered by
``OrderRejected`` with a reason ``"venue error: ..."``, so it is not left hanging. The draws
come from their own generator seeded from ``FaultConfig.seed``, so turning this fault on does
not change which orders ``reject_probability`` rejects.
"""

from __future__ import annotations

import random

from tradeloop.core.clock import Clock
from tradeloop.core.ids import IdFactory, Venue
from tradeloop.model.commands import SubmitOrder
from tradeloop.model.events import VenueErrorOccurred
from tradeloop.venues.simulated.config import FaultConfig

__all__ = ["API_ERROR", "ApiErrorFault"]

API_ERROR = "fault injection: simulated API error (HTTP 503 Service Unavailable)"
"""The error text of an injected API error."""


class ApiErrorFault:
    """Decides, per submitted order, whether the venue's API call fails."""

    __slots__ = ("_clock", "_ids", "_probability", "_rng", "_venue")

    def __init__(self, venue: Venue, faults: FaultConfig, *, ids: IdFactory, clock: Clock) -> None:
        self._venue = venue
        self._probability = faults.api_error_probability
        # A generator of its own (a string seed is hashed deterministically), so these draws
        # never shift those of reject_probability, which share the seed.
        self._rng = random.Random(f"api_error:{faults.seed}")
        self._ids = ids
        self._clock = clock

    def on_submit(self, command: SubmitOrder, ts: int) -> VenueErrorOccurred | None:
        """The error of the call that submitted ``command`` at ``ts``, or ``None`` if it worked."""
        if not self._probability or self._rng.random() >= self._probability:
            return None
        return VenueErrorOccurred(
            id=self._ids.new_id(),
            correlation_id=command.correlation_id,
            causation_id=command.id,
            ts_event=ts,
            ts_init=self._clock.timestamp_ns(),
            venue=str(self._venue),
            operation="submit_order",
            error=API_ERROR,
        )
