"""Trade execution as a service: who may trade now, seen from the node's health and metrics.

The risk engine is the authority on trading: it keeps the trading state and the per-instrument
blocks (:class:`~tradeloop.risk.authorisation.TradingAuthorisation`) and publishes
``TradingStateChanged``, ``TradingBlocked`` and ``TradingAuthorized`` itself. This service adds
no second source of those events. It

* answers :meth:`TradeExecutionService.authorised` (may a new position be opened on an
  instrument now) and :meth:`~TradeExecutionService.why_not` from the risk engine's state;
* lets an operator (the control API, the CLI) block and authorise instruments through the
  risk engine's authorisation, so each change is published there, once;
* counts blocks, authorisations, state changes and breaker trips while it runs, and reads
  DEGRADED while trading is restricted (not ACTIVE, or any block in force): the node is up
  but not trading as configured, which a person should see on ``/health``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tradeloop.core.bus import MessageBus
from tradeloop.core.ids import InstrumentId
from tradeloop.risk.engine import RiskEngine
from tradeloop.risk.events import (
    CircuitBreakerTripped,
    TradingAuthorized,
    TradingBlocked,
    TradingState,
    TradingStateChanged,
)
from tradeloop.runtime.services.service import HealthReport, Service

__all__ = ["OPERATOR_SOURCE", "TradeExecutionService"]

OPERATOR_SOURCE = "operator"
"""The source of the blocks placed through :meth:`TradeExecutionService.block`."""

_STATE_CODE = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class TradeExecutionService(Service):
    """Watches trading authorisation and the trading state of a risk engine.

    Parameters
    ----------
    risk:
        The node's risk engine (the authority on what may trade).
    bus:
        The bus its events pass on (observed here, never re-published).
    name, depends_on:
        As for every :class:`~tradeloop.runtime.services.service.Service`.
    """

    def __init__(
        self,
        risk: RiskEngine,
        bus: MessageBus,
        *,
        name: str = "execution",
        depends_on: Iterable[str] = (),
    ) -> None:
        super().__init__(name, depends_on=depends_on)
        self._risk = risk
        self._bus = bus
        self.blocks = 0
        """``TradingBlocked`` events seen while running."""
        self.authorisations = 0
        """``TradingAuthorized`` events seen while running."""
        self.state_changes = 0
        self.breaker_trips = 0
        self.last_block = ""
        """``"<instrument or *>: <source>: <reason>"`` of the latest block seen."""

    # -- lifecycle -------------------------------------------------------------------------

    async def on_start(self) -> None:
        bus = self._bus
        bus.subscribe(TradingBlocked, self._on_blocked)
        bus.subscribe(TradingAuthorized, self._on_authorized)
        bus.subscribe(TradingStateChanged, self._on_state)
        bus.subscribe(CircuitBreakerTripped, self._on_trip)

    async def on_stop(self) -> None:
        bus = self._bus
        bus.unsubscribe(TradingBlocked, self._on_blocked)
        bus.unsubscribe(TradingAuthorized, self._on_authorized)
        bus.unsubscribe(TradingStateChanged, self._on_state)
        bus.unsubscribe(CircuitBreakerTripped, self._on_trip)

    def _on_blocked(self, event: TradingBlocked) -> None:
        self.blocks += 1
        self.last_block = f"{event.instrument_id or '*'}: {event.source}: {event.reason}"

    def _on_authorized(self, event: TradingAuthorized) -> None:
        self.authorisations += 1

    def _on_state(self, event: TradingStateChanged) -> None:
        self.state_changes += 1

    def _on_trip(self, event: CircuitBreakerTripped) -> None:
        self.breaker_trips += 1

    # -- the question ----------------------------------------------------------------------

    def authorised(self, instrument_id: InstrumentId) -> bool:
        """Whether a new position may be opened on ``instrument_id`` now.

        True when the trading state is ACTIVE and no block applies to the instrument (its
        own, or one on every instrument). Orders that reduce a position pass the risk engine
        even when this is False.
        """
        risk = self._risk
        if risk.trading_state is not TradingState.ACTIVE:
            return False
        auth = risk.authorisation
        return not (auth.any_blocks and auth.is_blocked(instrument_id))

    def why_not(self, instrument_id: InstrumentId) -> str | None:
        """Why :meth:`authorised` is False for ``instrument_id``, or ``None`` when it is True."""
        risk = self._risk
        if risk.trading_state is not TradingState.ACTIVE:
            return f"trading state {risk.trading_state.value}: {risk.trading_state_reason}"
        reasons = risk.authorisation.blocked_reasons(instrument_id)
        return f"{instrument_id} blocked ({'; '.join(reasons)})" if reasons else None

    # -- an operator's hand ----------------------------------------------------------------

    def block(self, instrument_id: InstrumentId | None, reason: str) -> bool:
        """Block new positions on ``instrument_id`` (``None``: all) as the operator.

        The risk engine's authorisation publishes ``TradingBlocked``; returns whether the
        block is new (the operator's block of that scope already in force: nothing changes).
        """
        return self._risk.authorisation.block(instrument_id, OPERATOR_SOURCE, reason)

    def authorise(self, instrument_id: InstrumentId | None, reason: str) -> bool:
        """Lift the operator's block on ``instrument_id``; returns whether there was one.

        Blocks of other sources (a breaker, a blackout window) stay: each is lifted by its
        own source.
        """
        return self._risk.authorisation.lift(instrument_id, OPERATOR_SOURCE, reason)

    # -- health and metrics ----------------------------------------------------------------

    async def health(self) -> HealthReport:
        risk = self._risk
        problems = []
        if risk.trading_state is not TradingState.ACTIVE:
            problems.append(f"trading state {risk.trading_state.value} ({risk.trading_state_reason})")
        problems.extend(
            f"{block.instrument_id or 'every instrument'} blocked by {block.source}: {block.reason}"
            for block in risk.authorisation.blocks()
        )
        if problems:
            return HealthReport.degraded("; ".join(problems))
        return HealthReport.ok()

    def metrics(self) -> Mapping[str, float | int]:
        risk = self._risk
        return {
            "trading_state": _STATE_CODE[risk.trading_state],
            "blocks_in_force": len(risk.authorisation.blocks()),
            "blocks": self.blocks,
            "authorisations": self.authorisations,
            "state_changes": self.state_changes,
            "breaker_trips": self.breaker_trips,
            "orders_approved": risk.approved,
            "orders_denied": risk.denied,
        }
