"""Scaffolding of the end-to-end lifecycle scenarios: a price path, a strategy that opens a
position, one BacktestEngine run under a method, and operator commands fired at a given time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.ids import InstrumentId, StrategyId
from tradeloop.core.message import Message
from tradeloop.lifecycle import ExitTriggered, LifecycleConfig
from tradeloop.lifecycle.exits import ExitEvaluator
from tradeloop.lifecycle.methods import MethodConfig
from tradeloop.model.commands import ClosePosition
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.instruments import BinaryEventContract, Equity, Instrument
from tradeloop.model.objects import Money
from tradeloop.risk import RiskConfig
from tradeloop.runtime import BacktestEngine
from tradeloop.strategy import Strategy, StrategyConfig
from tradeloop.testkit.stubs import make_quote
from tradeloop.venues.simulated import AccountType, FaultConfig, SimulatedVenueConfig

SEC = NANOS_PER_SECOND
T0 = 1_704_207_600 * SEC  # 2024-01-02 15:00 UTC (10:00 in New York)
ABC = Equity("ABC.SIM")
EVT = BinaryEventContract("RAIN-24JAN02.SIM", expiry_ns=T0 + 600 * SEC)
FAST = {"interval_seconds": 1, "urgent_interval_seconds": 1, "price_ttl_seconds": 5}


class OpenConfig(StrategyConfig):
    instrument_id: str = "ABC.SIM"
    side: str = "BUY"
    quantity: int = 100
    edge: float | None = None
    win_probability: float | None = None
    payoff_ratio: float = 1.0


class OpenOnce(Strategy):
    """Buys (or sells) once on the first quote; with ``edge`` set, signals it instead."""

    def __init__(self, config: OpenConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.done = False

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.cfg.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if self.done:
            return
        self.done = True
        side = OrderSide(self.cfg.side)
        if self.cfg.edge is not None:
            self.signal_edge(
                tick.instrument_id,
                side,
                edge=self.cfg.edge,
                price=tick.ask_price if side is OrderSide.BUY else tick.bid_price,
                win_probability=self.cfg.win_probability,
                payoff_ratio=self.cfg.payoff_ratio,
            )
            return
        qty = self.instrument(tick.instrument_id).make_qty(self.cfg.quantity)
        self.submit_order(self.order_factory.market(tick.instrument_id, side, qty))


def quotes(
    instrument: Instrument,
    mids: Iterable[float | str],
    *,
    spread: str = "0.02",
    start: int = T0,
    step: int = SEC,
) -> list[QuoteTick]:
    half = Decimal(spread) / 2
    out = []
    for i, mid in enumerate(mids):
        m = Decimal(str(mid))
        out.append(make_quote(instrument, m - half, m + half, 10_000, 10_000, ts_ns=start + i * step))
    return out


def run(
    data: Sequence[QuoteTick],
    method: dict[str, Any],
    strategy: Strategy | None = None,
    *,
    instrument: Instrument = ABC,
    faults: FaultConfig | None = None,
    before: Callable[[BacktestEngine], None] | None = None,
    evaluator: Callable[[MethodConfig], ExitEvaluator] = ExitEvaluator,
    handler_errors: int = 0,
    risk: dict[str, Any] | None = None,
) -> tuple[BacktestEngine, list[Message]]:
    """One run of ``strategy`` (by default :class:`OpenOnce` on ``instrument``) under method
    ``m``, on a margin venue with ``faults``; ``before`` arms timers on the engine first."""
    engine = BacktestEngine(
        lifecycle=LifecycleConfig.model_validate({"methods": {"m": method}}),
        exit_evaluator=evaluator,
        risk=RiskConfig.model_validate(risk or {}),
    )
    engine.add_instrument(instrument)
    engine.add_venue(
        "SIM",
        SimulatedVenueConfig(
            starting_balances=Money.from_str("1000000", "USD"),
            account_type=AccountType.MARGIN,
            faults=faults or FaultConfig(),
        ),
    )
    engine.add_data(list(data))
    engine.add_strategy(strategy or OpenOnce(OpenConfig(method="m", instrument_id=str(instrument.id))))
    seen: list[Message] = []
    engine.bus.add_recorder(seen.append)
    if before is not None:
        before(engine)
    engine.run()
    failures = [m for m in seen if type(m).__name__ == "HandlerFailed"]
    assert engine.bus.stats().handler_errors == handler_errors, failures
    return engine, seen


def of(kind: type, seen: list[Message]) -> list[Any]:
    return [m for m in seen if isinstance(m, kind)]


def exits(seen: list[Message]) -> list[ExitTriggered]:
    return of(ExitTriggered, seen)


def publish_at(ts_ns: int, build: Callable[[int], Message], name: str) -> Callable[[BacktestEngine], None]:
    """A ``before`` hook of :func:`run`: at ``ts_ns`` publish ``build(now)`` (an operator's
    command) on the engine's bus, from a clock alert named ``name``."""

    def arm(engine: BacktestEngine) -> None:
        def fire(_: object) -> None:
            engine.bus.publish(build(engine.clock.timestamp_ns()))

        engine.clock.set_time_alert(name, ts_ns, fire)

    return arm


def close_position_at(ts_ns: int, strategy: str) -> Callable[[BacktestEngine], None]:
    """An operator's ``ClosePosition`` (id ``close-1``) for ``strategy`` on ABC at ``ts_ns``."""
    return publish_at(
        ts_ns,
        lambda now: ClosePosition(
            id="close-1",
            correlation_id="close-1",
            ts_event=now,
            ts_init=now,
            strategy_id=StrategyId(strategy),
            instrument_id=InstrumentId("ABC.SIM"),
            reason="operator",
        ),
        "test.close",
    )
