"""Moving-average crossover: long on a cross up, flat on a cross down."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, model_validator

from tradeloop.core.errors import TradeloopError
from tradeloop.indicators.sma import SimpleMovingAverage
from tradeloop.model.data import Bar
from tradeloop.model.enums import OrderSide
from tradeloop.model.objects import Quantity
from tradeloop.strategy.config import StrategyConfig
from tradeloop.strategy.strategy import Strategy

__all__ = ["MovingAverageCrossover", "MovingAverageCrossoverConfig"]


class MovingAverageCrossoverConfig(StrategyConfig):
    instrument_id: str
    bar_spec: str = "1-MINUTE"
    fast: int = Field(10, ge=1)
    slow: int = Field(30, ge=2)
    quantity: Decimal = Field(Decimal(100), gt=0)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> MovingAverageCrossoverConfig:
        if self.fast >= self.slow:
            raise ValueError(f"fast period ({self.fast}) must be shorter than slow period ({self.slow})")
        return self


class MovingAverageCrossover(Strategy):
    """SMA(fast) crossing above SMA(slow) buys ``quantity``; crossing below goes flat.

    Only crosses count: the first signal needs both averages warm and a change of side.
    """

    def __init__(self, config: MovingAverageCrossoverConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.fast = SimpleMovingAverage(config.fast)
        self.slow = SimpleMovingAverage(config.slow)
        self._above: bool | None = None
        self._qty: Quantity | None = None

    def on_start(self) -> None:
        instrument = self.instrument(self.cfg.instrument_id)
        self._qty = self.config_quantity(instrument, "quantity", self.cfg.quantity)
        self.subscribe_bars(instrument.id, self.cfg.bar_spec)

    def on_bar(self, bar: Bar) -> None:
        close = bar.close.raw / 1e9
        self.fast.update(close)
        self.slow.update(close)
        if not self.slow.initialized:
            return
        above = self.fast.value > self.slow.value
        if above is self._above:
            return
        was = self._above
        self._above = above
        if was is None:
            return  # warm-up: remember the side, trade only on a real cross
        if above:
            # Only from flat with nothing working: a close that was denied or is still on its
            # way must not turn into a doubled position.
            if self.position(bar.instrument_id) is None and not self.open_orders(bar.instrument_id):
                assert self._qty is not None
                self.submit_order(self.order_factory.market(bar.instrument_id, OrderSide.BUY, self._qty))
        else:
            self.close_position(bar.instrument_id)

    def on_config_update(self, old: StrategyConfig, new: StrategyConfig) -> None:
        """New quantity from the next order; new periods start fresh averages (warming up)."""
        assert isinstance(new, MovingAverageCrossoverConfig)
        if new.instrument_id != self.cfg.instrument_id or new.bar_spec != self.cfg.bar_spec:
            raise TradeloopError("instrument_id and bar_spec cannot change while the strategy runs")
        if (new.fast, new.slow) != (self.cfg.fast, self.cfg.slow):
            self.fast = SimpleMovingAverage(new.fast)
            self.slow = SimpleMovingAverage(new.slow)
            self._above = None
        if self._qty is not None:
            self._qty = self.config_quantity(self.instrument(new.instrument_id), "quantity", new.quantity)
        self.cfg = new

    def on_reset(self) -> None:
        self.fast.reset()
        self.slow.reset()
        self._above = None
