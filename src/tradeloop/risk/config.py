"""Risk limits: one frozen, validated model; every limit is optional (``None`` = off).

Quantities are in the instrument's units, money in the account currency, fractions and
percentages as ``Decimal``. Every decimal must be finite, positive and have at most nine
decimal places (the fixed-point scale), so the engine can turn it into an exact integer raw.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, field_validator

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.ids import InstrumentId, instrument_id
from tradeloop.model.objects import FIXED_PRECISION

__all__ = ["RiskConfig"]


def _nine_places(value: Decimal) -> Decimal:
    scaled = value.scaleb(FIXED_PRECISION)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {FIXED_PRECISION} decimal places")
    return value


PositiveDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False), AfterValidator(_nine_places)]
"""A finite decimal above zero with at most nine decimal places."""


class RiskConfig(BaseModel):
    """Pre-trade risk limits of a :class:`~tradeloop.risk.engine.RiskEngine`.

    Parameters
    ----------
    bypass:
        Skip every limit check (the trading state still applies: HALTED stays a kill switch).
    max_order_quantity:
        Largest quantity of a single order, for every instrument without an override.
    max_order_quantity_by_instrument:
        Per-instrument overrides of ``max_order_quantity`` (``{"AAPL.XNAS": 500}``).
    max_order_notional:
        Largest value of a single order (quantity x price x multiplier).
    max_position_quantity, max_position_quantity_by_instrument:
        Largest absolute net size of an instrument once the order would be filled; a default
        and per-instrument overrides.
    max_position_notional:
        Largest absolute value of an instrument's net position once the order would be filled.
    max_gross_exposure:
        Largest sum of absolute position values over all instruments, this order included.
    max_open_orders:
        Most orders open (not yet closed) at once, over all instruments, this order included.
    max_open_orders_per_instrument:
        The same, per instrument.
    max_order_rate, rate_interval_seconds:
        At most ``max_order_rate`` approved orders within any sliding window of
        ``rate_interval_seconds`` on the engine's clock (nine decimals: whole nanoseconds).
    price_band_pct:
        A limit, stop or trigger price must lie within this percentage of the last price
        (``5`` = 5 %). While the band is on, every order needs a last price.
    max_daily_loss:
        When the day's loss reaches this amount, only position-reducing orders pass.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bypass: bool = False
    max_order_quantity: PositiveDecimal | None = None
    max_order_quantity_by_instrument: dict[InstrumentId, PositiveDecimal] = Field(default_factory=dict)
    max_order_notional: PositiveDecimal | None = None
    max_position_quantity: PositiveDecimal | None = None
    max_position_quantity_by_instrument: dict[InstrumentId, PositiveDecimal] = Field(default_factory=dict)
    max_position_notional: PositiveDecimal | None = None
    max_gross_exposure: PositiveDecimal | None = None
    max_open_orders: PositiveInt | None = None
    max_open_orders_per_instrument: PositiveInt | None = None
    max_order_rate: PositiveInt | None = None
    rate_interval_seconds: PositiveDecimal = Decimal(1)
    price_band_pct: PositiveDecimal | None = None
    max_daily_loss: PositiveDecimal | None = None

    @field_validator("max_order_quantity_by_instrument", "max_position_quantity_by_instrument")
    @classmethod
    def _instrument_keys(cls, value: dict[InstrumentId, Decimal]) -> dict[InstrumentId, Decimal]:
        for key in value:
            instrument_id(key)  # raises with the offending id
        return value

    @property
    def rate_interval_ns(self) -> int:
        """The rate window in nanoseconds."""
        return int(self.rate_interval_seconds * NANOS_PER_SECOND)
