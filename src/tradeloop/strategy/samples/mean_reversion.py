"""Bollinger-band mean reversion, sized by fractional Kelly."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, model_validator

from tradeloop.indicators.bollinger import BollingerBands
from tradeloop.indicators.rsi import RelativeStrengthIndex
from tradeloop.model.data import Bar
from tradeloop.model.enums import OrderSide
from tradeloop.risk.sizing import FractionalKelly
from tradeloop.strategy.config import StrategyConfig
from tradeloop.strategy.strategy import Strategy

__all__ = ["MeanReversion", "MeanReversionConfig"]


class MeanReversionConfig(StrategyConfig):
    instrument_id: str
    bar_spec: str = "1-MINUTE"
    period: int = Field(20, ge=2)
    k: float = Field(2.0, gt=0, allow_inf_nan=False)
    rsi_period: int = Field(14, ge=2)
    rsi_oversold: float = Field(30.0, ge=0, le=100)
    rsi_overbought: float = Field(70.0, ge=0, le=100)
    allow_short: bool = True
    win_probability: Decimal = Field(Decimal("0.55"), gt=0, lt=1)
    payoff_ratio: Decimal = Field(Decimal("1.2"), gt=0)
    kelly_fraction: Decimal = Field(Decimal("0.25"), gt=0, le=1)
    min_quantity: Decimal = Field(Decimal(1), gt=0)
    max_quantity: Decimal = Field(Decimal(10), gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> MeanReversionConfig:
        if self.min_quantity > self.max_quantity:
            raise ValueError(f"min_quantity {self.min_quantity} is above max_quantity {self.max_quantity}")
        if self.rsi_oversold >= self.rsi_overbought:
            raise ValueError(
                f"rsi_oversold {self.rsi_oversold} must be below rsi_overbought {self.rsi_overbought}"
            )
        return self


class MeanReversion(Strategy):
    """Buy a close below the lower band with RSI oversold; sell short above the upper band with
    RSI overbought (if allowed); exit when the close crosses back to the middle band.
    """

    def __init__(self, config: MeanReversionConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.bands = BollingerBands(config.period, config.k)
        self.rsi = RelativeStrengthIndex(config.rsi_period)
        self.sizer: FractionalKelly | None = None

    def on_start(self) -> None:
        instrument = self.instrument(self.cfg.instrument_id)
        self.sizer = FractionalKelly(
            win_probability=self.cfg.win_probability,
            payoff_ratio=self.cfg.payoff_ratio,
            fraction=self.cfg.kelly_fraction,
            min_quantity=self.config_quantity(instrument, "min_quantity", self.cfg.min_quantity),
            max_quantity=self.config_quantity(instrument, "max_quantity", self.cfg.max_quantity),
        )
        self.subscribe_bars(instrument.id, self.cfg.bar_spec)

    def on_bar(self, bar: Bar) -> None:
        close = bar.close.as_double()
        self.bands.update(close)
        self.rsi.update(close)
        if not (self.bands.initialized and self.rsi.initialized):
            return
        position = self.position(bar.instrument_id)
        net = position.net_raw if position is not None else 0
        if (net > 0 and close >= self.bands.middle) or (net < 0 and close <= self.bands.middle):
            self.close_position(bar.instrument_id)
            return
        if net or self.open_orders(bar.instrument_id):
            return
        side: OrderSide | None = None
        if close < self.bands.lower and self.rsi.value < self.cfg.rsi_oversold:
            side = OrderSide.BUY
        elif self.cfg.allow_short and close > self.bands.upper and self.rsi.value > self.cfg.rsi_overbought:
            side = OrderSide.SELL
        if side is None:
            return
        assert self.sizer is not None
        instrument = self.instrument(bar.instrument_id)
        qty = self.sizer.size(instrument, bar.close, self.portfolio.equity())
        if qty.raw > 0:
            self.submit_order(self.order_factory.market(bar.instrument_id, side, qty))

    def on_reset(self) -> None:
        self.bands.reset()
        self.rsi.reset()
