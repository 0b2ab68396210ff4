"""The kernel: the trading components of a node, built on the clock it is given.

A backtest (simulated clock) and a paper or live node (live clock) build exactly the same
components here - bus, execution engine, simulated venues, portfolio, risk engine, circuit
breakers, the position lifecycle and the strategies - so what was backtested is what trades.
Only the drivers differ: the backtest loop feeds recorded data as fast as the CPU allows, the
live node's feed delivers it on the wall clock (:meth:`Kernel.deliver`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tradeloop.core.bus import LaneCapacity, MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, Clock
from tradeloop.core.component import ComponentState
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import AccountId, IdFactory, InstrumentId, Venue
from tradeloop.core.message import Data
from tradeloop.execution.engine import ExecutionEngine
from tradeloop.lifecycle.book import PriceCache
from tradeloop.lifecycle.entry import EntryFlow
from tradeloop.lifecycle.events import PriceRequested
from tradeloop.lifecycle.exit_executor import ExitExecutor
from tradeloop.lifecycle.exits import ExitEvaluator
from tradeloop.lifecycle.methods import LifecycleConfig, MethodConfig
from tradeloop.lifecycle.monitor import PositionMonitor
from tradeloop.model.account import Account
from tradeloop.model.data import Bar, PriceSnapshot, QuoteTick, TradeTick
from tradeloop.model.events import ComponentStateChanged
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.risk.breakers import CircuitBreakers
from tradeloop.risk.config import RiskConfig
from tradeloop.risk.engine import RiskEngine
from tradeloop.runtime.data_router import DataRouter
from tradeloop.strategy.strategy import Strategy, StrategyContext
from tradeloop.venues.simulated import SimulatedExchange, SimulatedVenueConfig

__all__ = ["Kernel"]


class Kernel:
    """The components of one node. Add instruments, venues and strategies, then :meth:`build`.

    Parameters
    ----------
    clock:
        The node's clock (simulated for a backtest, live for paper and live trading).
    seed:
        Seeds the id factory: the same seed gives the same ids.
    risk:
        Risk limits, breakers, correlation limit and blackout calendar.
    equity_sample_ns:
        Minimum spacing of equity-curve points (every fill is sampled too).
    history_size:
        Latest messages the bus keeps in ``bus.history`` (0 keeps none).
    lifecycle:
        Methods of the position lifecycle. With methods (or a strategy naming one) the kernel
        adds the entry flow, the position monitor and the exit executor; without, none of
        them runs and no per-price cost is paid.
    exit_evaluator:
        Builds the exit evaluator of each method (default
        :class:`~tradeloop.lifecycle.exits.ExitEvaluator`); a subclass adds exit rules of its own.
    bus_capacity:
        Lane capacities of the bus.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 0,
        risk: RiskConfig | None = None,
        equity_sample_ns: int = 60 * NANOS_PER_SECOND,
        history_size: int = 1_000,
        lifecycle: LifecycleConfig | None = None,
        exit_evaluator: Callable[[MethodConfig], ExitEvaluator] = ExitEvaluator,
        bus_capacity: LaneCapacity | None = None,
    ) -> None:
        self.clock = clock
        self.ids = IdFactory(seed)
        self.bus = MessageBus(clock, self.ids, history_size=history_size, capacity=bus_capacity)
        self.execution = ExecutionEngine(self.bus, clock, self.ids)
        self._risk_config = risk or RiskConfig()
        self._equity_sample_ns = equity_sample_ns
        self._exit_evaluator = exit_evaluator
        self.instruments: dict[InstrumentId, Instrument] = {}
        self.venues: dict[Venue, SimulatedExchange] = {}
        self._venue_configs: dict[Venue, SimulatedVenueConfig] = {}
        self.router = DataRouter(self.bus, self.instruments)
        self.strategies: list[Strategy] = []
        self.portfolio: Portfolio | None = None
        self.risk: RiskEngine | None = None
        self.breakers: CircuitBreakers | None = None
        self._lifecycle = lifecycle or LifecycleConfig()
        self.prices: PriceCache | None = None
        self.monitor: PositionMonitor | None = None
        self.exits: ExitExecutor | None = None
        self.entries: EntryFlow | None = None
        self._built = False
        self._venue_of: dict[InstrumentId, SimulatedExchange] = {}

    # -- setup -----------------------------------------------------------------------------

    def add_instrument(self, instrument: Instrument) -> None:
        if instrument.id in self.instruments and self.instruments[instrument.id] != instrument:
            raise TradeloopError(f"instrument {instrument.id} is already added with other settings")
        self.instruments[instrument.id] = instrument

    def add_venue(self, venue: str, config: SimulatedVenueConfig) -> None:
        """Add a simulated venue; its instruments are those whose id ends in ``.venue``."""
        v = Venue(venue)
        if v in self._venue_configs:
            raise TradeloopError(f"venue {venue} is already added")
        self._venue_configs[v] = config

    def add_strategy(self, strategy: Strategy) -> None:
        if any(s.id == strategy.id for s in self.strategies):
            raise TradeloopError(f"two strategies share the id {strategy.id}; give each a strategy_id")
        self.strategies.append(strategy)

    # -- building ----------------------------------------------------------------------------

    def build(self, *, register_strategies: bool = True) -> None:
        """Create the venues, portfolio, risk engine, breakers and lifecycle, and register the
        strategies (unless a service registers them: ``register_strategies=False``)."""
        if self._built:
            raise TradeloopError("this node is already built")
        if not self._venue_configs:
            raise TradeloopError("add a venue before running")
        self._built = True
        currencies = {cfg.starting_balances.currency for cfg in self._venue_configs.values()}
        if len(currencies) != 1:
            raise TradeloopError(f"venues start in several currencies {sorted(currencies)}; use one")
        total = sum(cfg.starting_balances.raw for cfg in self._venue_configs.values())
        currency = currencies.pop()
        if len(self._venue_configs) == 1:
            ((venue_name, only),) = self._venue_configs.items()
            account_id = AccountId(only.account_id or f"{venue_name}-001")
        else:
            account_id = AccountId("-".join(sorted(self._venue_configs)) + "-001")
        account = Account(account_id, Money(total, currency))
        for venue, cfg in self._venue_configs.items():
            own = [i for i in self.instruments.values() if i.venue == venue]
            exchange = SimulatedExchange(
                venue, bus=self.bus, clock=self.clock, ids=self.ids, instruments=own, config=cfg
            )
            self.venues[venue] = exchange
            self.execution.register_client(exchange)
            for instrument in own:
                self._venue_of[instrument.id] = exchange
        self.portfolio = Portfolio(
            self.bus,
            self.clock,
            self.ids,
            account,
            self.instruments.values(),
            equity_sample_ns=self._equity_sample_ns,
        )
        self.risk = RiskEngine(
            self.bus, self.clock, self.ids, self.portfolio, self.execution, self._risk_config
        )
        self.breakers = CircuitBreakers(
            self.bus, self.clock, self.ids, self.risk, self.portfolio, self.execution
        )
        self._build_lifecycle()
        if register_strategies:
            context = self.context()
            for strategy in self.strategies:
                strategy.register(context)
                strategy.set_transition_listener(self._on_transition)

    def context(self) -> StrategyContext:
        """What strategies are registered with (after :meth:`build`)."""
        if self.portfolio is None:
            raise TradeloopError("build the kernel before asking for its strategy context")
        return StrategyContext(
            bus=self.bus,
            clock=self.clock,
            ids=self.ids,
            portfolio=self.portfolio,
            execution=self.execution,
            instruments=self.instruments,
            data=self.router,
        )

    def _build_lifecycle(self) -> None:
        strategy_methods = {s.id: s.config.method for s in self.strategies if s.config.method is not None}
        if not self._lifecycle.methods and not strategy_methods:
            return
        assert self.portfolio is not None
        assert self.risk is not None
        methods = self._lifecycle.methods
        for sid, name in strategy_methods.items():
            if name not in methods:
                known = ", ".join(sorted(methods)) or "none"
                raise TradeloopError(f"strategy {sid}: unknown method {name!r} (known: {known})")
        self.prices = PriceCache(self.bus, self.clock)
        self.monitor = PositionMonitor(
            self.bus,
            self.clock,
            self.ids,
            self.portfolio,
            self.prices,
            methods,
            strategy_methods=strategy_methods,
            evaluator_factory=self._exit_evaluator,
        )
        self.exits = ExitExecutor(
            self.bus, self.clock, self.ids, self.execution, self.portfolio, self.prices, self.monitor.methods
        )
        self.entries = EntryFlow(
            self.bus,
            self.clock,
            self.ids,
            self.portfolio,
            self.execution,
            self.risk,
            self.prices,
            self.monitor,
            methods,
        )
        self.bus.subscribe(PriceRequested, self._answer_price_request)

    def _answer_price_request(self, request: PriceRequested) -> None:
        """A stale price: the simulated venue's latest, stamped now (a REST snapshot in life)."""
        iid = request.instrument_id
        instrument = self.instruments.get(iid)
        venue = self.venues.get(Venue(instrument.venue)) if instrument is not None else None
        latest = venue.last_data(iid) if venue is not None else None
        if latest is None:
            return  # nothing known yet: the monitor asks again at its next check
        assert instrument is not None
        bid = ask = None
        if isinstance(latest, QuoteTick):
            bid, ask = latest.bid_price, latest.ask_price
            # The exact mid, as the price cache and the monitor take it from the quote itself
            # (an odd spread in ticks puts it between ticks): refreshing a quote must not move
            # the mark, or a stop on the tick below the mid would fire on the refresh alone.
            price = instrument.exact_price((bid.raw + ask.raw) // 2)
        elif isinstance(latest, TradeTick):
            price = latest.price
        elif isinstance(latest, Bar):
            price = latest.close
        else:
            return
        now = self.clock.timestamp_ns()
        self.bus.publish(
            PriceSnapshot(
                ts_event=latest.ts_event, ts_init=now, instrument_id=iid, price=price, bid=bid, ask=ask
            )
        )

    def _on_transition(self, name: str, old: ComponentState, new: ComponentState) -> None:
        now = self.clock.timestamp_ns()
        corr = self.ids.new_id()
        self.bus.publish(
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

    def declare_data(self, data: Sequence[Data]) -> None:
        """Tell the data router what a stream holds (so strategies may subscribe to it), after
        checking it is in non-decreasing ``ts_init`` order and of known instruments."""
        if not data:
            raise TradeloopError("a data stream is empty")
        prev = -1
        last_key: tuple[type, InstrumentId] | None = None
        for i, item in enumerate(data):
            ts = item.ts_init
            if ts < prev:
                raise TradeloopError(f"data stream is out of order at item {i}: {ts} < {prev}")
            prev = ts
            iid: InstrumentId = item.instrument_id  # type: ignore[attr-defined]
            key = (type(item), iid)
            if key != last_key:
                last_key = key
                if iid not in self.instruments:
                    raise TradeloopError(f"data for {iid}, which was not added as an instrument")
                self.router.declare(type(item), iid, item.spec if isinstance(item, Bar) else None)

    def update_lifecycle(self, lifecycle: LifecycleConfig) -> None:
        """Take new method settings while running (config hot reload)."""
        if self.monitor is None or self.entries is None or self.exits is None:
            if lifecycle.methods:
                raise TradeloopError("the node was started without methods; restart it to add some")
            return
        self.monitor.update_methods(lifecycle.methods)  # first: it refuses removing a method in use
        self.entries.update_methods(lifecycle.methods)
        self.exits.update_methods(self.monitor.methods)
        self._lifecycle = lifecycle

    def purge_closed(self, keep: int) -> int:
        """Bound the memory of a long-running node: forget all but the ``keep`` newest closed
        orders (engine and venues) and closed positions, and equity points beyond ``keep``.
        Totals (realized P&L, fills) are kept. Returns how many records were forgotten."""
        forgotten = self.execution.purge_closed(keep)
        for venue in self.venues.values():
            forgotten += venue.purge_closed(keep)
        if self.portfolio is not None:
            forgotten += self.portfolio.purge_closed(keep, keep_equity_points=keep)
        return forgotten

    def cancel_timers(self) -> list[str]:
        """Cancel every timer and alert set on the node's clock; return their names.

        For a node that stops on a live clock: its components (breaker checks, the position
        monitor, strategies) set timers on the event loop, which would otherwise go on firing
        into a stopped node - publishing after its event log has closed - for as long as the
        loop runs. A backtest's simulated clock fires nothing once its loop ends.
        """
        names = self.clock.timer_names
        for name in names:
            self.clock.cancel_timer(name)
        return names

    # -- driving -----------------------------------------------------------------------------

    def deliver(self, data: Data) -> None:
        """One market-data message into the node: its venue delivers arrived commands and
        matches resting orders first (the venue sees a price before anyone else), then the
        message is published. The backtest loop does the same, inlined for speed."""
        venue = self._venue_of.get(data.instrument_id)  # type: ignore[attr-defined]
        if venue is not None:
            ts = data.ts_init
            if ts >= venue.next_due_ns:
                venue.advance_time(ts)
            if type(data) is TradeTick:
                venue.process_trade_tick(data)
            elif type(data) is QuoteTick:
                venue.process_quote_tick(data)
            elif type(data) is Bar:
                venue.process_bar(data)
        self.bus.publish(data)

    def deliver_due_commands(self) -> None:
        """Let every venue deliver the commands whose latency has passed (a live clock moves
        on without market data; the backtest does this at each data point)."""
        now = self.clock.timestamp_ns()
        for venue in self.venues.values():
            if now >= venue.next_due_ns:
                venue.advance_time(now)
