"""Strategies as a service: registered once, started and stopped with the service.

The service registers each strategy with the node's
:class:`~tradeloop.strategy.strategy.StrategyContext` (once: a strategy cannot be registered
twice), publishes every lifecycle transition of a strategy as
:class:`~tradeloop.model.events.ComponentStateChanged` (as the backtest does), starts the
strategies when the service starts and stops them, in reverse, when it stops. A restart of the
service stops and starts them again; a strategy that had faulted is reset first.

A strategy whose ``on_start`` raises its own error is isolated as the backtest isolates it:
reported through the bus (``HandlerFailed``), left FAULTED, and the others run; the service
reads DEGRADED while any strategy is not running. A :class:`~tradeloop.core.errors.TradeloopError`
from ``on_start`` is a configuration problem (a subscription to data the node does not
have): it is raised as :class:`~tradeloop.core.errors.ConfigError`, so the orchestrator fails
the service at once rather than retrying what cannot succeed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tradeloop.core.component import ComponentState
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.ids import StrategyId
from tradeloop.model.events import ComponentStateChanged
from tradeloop.runtime.services.service import HealthReport, Service
from tradeloop.strategy.strategy import Strategy, StrategyContext

__all__ = ["StrategyService"]

_UP = frozenset({ComponentState.RUNNING})


class StrategyService(Service):
    """Registers, starts and stops tradeloop strategies.

    Parameters
    ----------
    context:
        What every strategy is registered with (the node's bus, clock, portfolio...).
    strategies:
        The strategies to run; :meth:`add` adds more.
    name, depends_on:
        As for every :class:`~tradeloop.runtime.services.service.Service`.
    """

    def __init__(
        self,
        context: StrategyContext,
        strategies: Iterable[Strategy] = (),
        *,
        name: str = "strategies",
        depends_on: Iterable[str] = (),
    ) -> None:
        super().__init__(name, depends_on=depends_on)
        self._context = context
        self._strategies: dict[StrategyId, Strategy] = {}
        self._registered: set[StrategyId] = set()
        self._active = False
        self.start_failures = 0
        """Strategy starts that raised (each strategy left FAULTED)."""
        for strategy in strategies:
            self.add(strategy)

    @property
    def strategies(self) -> tuple[Strategy, ...]:
        return tuple(self._strategies.values())

    def strategy(self, strategy_id: str) -> Strategy:
        found = self._strategies.get(StrategyId(strategy_id))
        if found is None:
            known = ", ".join(self._strategies) or "none"
            raise KeyError(f"no strategy {strategy_id!r} in {self.name} (strategies: {known})")
        return found

    def add(self, strategy: Strategy) -> None:
        """Add a strategy; while the service runs it is registered and started at once.

        Raises
        ------
        TradeloopError
            If a strategy with the same id was already added.
        """
        if strategy.id in self._strategies:
            raise TradeloopError(f"two strategies share the id {strategy.id}; give each a strategy_id")
        self._strategies[strategy.id] = strategy
        if self._active:
            self._launch(strategy)

    def remove(self, strategy_id: str) -> Strategy:
        """Stop (if running) and remove a strategy; returns it.

        A strategy cannot be unregistered from the bus: a removed one stays subscribed but,
        no longer running, handles nothing.
        """
        strategy = self.strategy(strategy_id)
        if strategy.state is ComponentState.RUNNING:
            self._halt(strategy)
        del self._strategies[strategy.id]
        return strategy

    # -- lifecycle -------------------------------------------------------------------------

    async def on_start(self) -> None:
        self._active = True
        for strategy in self._strategies.values():
            self._launch(strategy)

    async def on_stop(self) -> None:
        self._active = False
        for strategy in reversed(self._strategies.values()):
            if strategy.state is ComponentState.RUNNING:
                self._halt(strategy)

    def _launch(self, strategy: Strategy) -> None:
        if strategy.id not in self._registered:
            strategy.register(self._context)
            strategy.set_transition_listener(self._on_transition)
            self._registered.add(strategy.id)
        if strategy.state is ComponentState.RUNNING:
            return
        try:
            if strategy.state is ComponentState.FAULTED:
                strategy.reset()
            strategy.start()
        except TradeloopError as exc:
            raise ConfigError(f"strategy {strategy.id} cannot start: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - a strategy's own bug leaves the others running
            self.start_failures += 1
            self._context.bus.report_failure(f"{strategy.id}.on_start", "start", exc)

    def _halt(self, strategy: Strategy) -> None:
        try:
            strategy.stop()
        except Exception as exc:  # noqa: BLE001 - the other strategies must still be stopped
            self._context.bus.report_failure(f"{strategy.id}.on_stop", "stop", exc)

    def _on_transition(self, name: str, old: ComponentState, new: ComponentState) -> None:
        ctx = self._context
        now = ctx.clock.timestamp_ns()
        corr = ctx.ids.new_id()
        ctx.bus.publish(
            ComponentStateChanged(
                id=corr,
                correlation_id=corr,
                ts_event=now,
                ts_init=now,
                component=name,
                previous=old.value,
                state=new.value,
            )
        )

    # -- health and metrics ----------------------------------------------------------------

    async def health(self) -> HealthReport:
        down = [f"{s.id} is {s.state.value}" for s in self._strategies.values() if s.state not in _UP]
        if down:
            return HealthReport.degraded("; ".join(down))
        return HealthReport.ok()

    def metrics(self) -> Mapping[str, float | int]:
        states = [s.state for s in self._strategies.values()]
        return {
            "strategies": len(states),
            "running": sum(1 for s in states if s is ComponentState.RUNNING),
            "faulted": sum(1 for s in states if s is ComponentState.FAULTED),
            "start_failures": self.start_failures,
        }
