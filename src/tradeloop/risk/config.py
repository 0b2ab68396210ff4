"""Risk limits: one frozen, validated model; every limit is optional (``None`` = off).

Quantities are in the instrument's units, money in the account currency, fractions and
percentages as ``Decimal``. Every decimal must be finite, positive and have at most nine
decimal places (the fixed-point scale), so the engine can turn it into an exact integer raw.

Circuit breakers (``breakers:``), the correlation limit (``correlation:``) and the blackout
calendar (``blackout_calendar:``) are configured here too, so one ``risk:`` block of a node's
YAML holds every rule that can stop an order. Their defaults::

    breakers:
      daily_loss_flatten: false     # true: flatten at max_daily_loss, manual reset
      venue_errors: {enabled: true, max_errors: 5, window_seconds: 300}   # pause entries, auto resume
      store_errors: {enabled: true, max_errors: 3, window_seconds: 60}    # HALTED, manual reset
      risk_breach: {enabled: true, value_tolerance_pct: 0, check_interval_seconds: null}
    correlation: null               # {window, sample_seconds, threshold, max_correlated_exposure}
    blackout_calendar: null         # path of a CSV or YAML calendar
    max_drawdown_pct: null
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, field_validator

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.ids import InstrumentId, instrument_id
from tradeloop.model.objects import FIXED_PRECISION

__all__ = [
    "BreakerConfig",
    "CorrelationConfig",
    "ErrorRateConfig",
    "RiskBreachConfig",
    "RiskConfig",
    "StoreErrorsConfig",
    "VenueErrorsConfig",
]


def _nine_places(value: Decimal) -> Decimal:
    scaled = value.scaleb(FIXED_PRECISION)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {FIXED_PRECISION} decimal places")
    return value


PositiveDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False), AfterValidator(_nine_places)]
"""A finite decimal above zero with at most nine decimal places."""

NonNegativeDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False), AfterValidator(_nine_places)]
"""A finite decimal of zero or more with at most nine decimal places."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ErrorRateConfig(_Frozen):
    """An error-rate breaker: it trips when *more than* ``max_errors`` errors fall within any
    sliding window of ``window_seconds`` on the engine's clock.

    Parameters
    ----------
    enabled:
        Whether errors are counted at all.
    max_errors:
        The most errors the window may hold without tripping.
    window_seconds:
        Length of the sliding window (nine decimals: whole nanoseconds).
    """

    enabled: bool = True
    max_errors: PositiveInt
    window_seconds: PositiveDecimal

    @property
    def window_ns(self) -> int:
        """The window in nanoseconds."""
        return int(self.window_seconds * NANOS_PER_SECOND)


class VenueErrorsConfig(ErrorRateConfig):
    """Venue (API) errors: above the rate new entries pause (exits keep working); entries
    resume on their own once the window holds no more than ``max_errors`` errors again.
    Defaults: more than 5 errors in 5 minutes."""

    max_errors: PositiveInt = 5
    window_seconds: PositiveDecimal = Decimal(300)


class StoreErrorsConfig(ErrorRateConfig):
    """Event-store errors: above the rate all trading halts (``HALTED``: only cancels pass,
    nothing is flattened) until an operator resets the breaker. Defaults: more than 3 errors in
    one minute."""

    max_errors: PositiveInt = 3
    window_seconds: PositiveDecimal = Decimal(60)


class RiskBreachConfig(_Frozen):
    """The post-trade check: an actual state past a limit halts entries, flattens and alerts.

    A risk breach is, after a fill (and on every ``check_interval_seconds`` tick when set): an
    instrument's net position above ``max_position_quantity`` (or its per-instrument
    override), a position worth more than ``max_position_notional``, a gross exposure above
    ``max_gross_exposure``, or a drawdown from the equity peak past ``max_drawdown_pct``.

    Parameters
    ----------
    enabled:
        Whether the check runs.
    value_tolerance_pct:
        Value limits (position notional, gross exposure) count as breached only beyond the
        limit plus this percentage: the pre-trade check values a market order at the last
        price, and the fill may come a little higher. Quantities and drawdown are exact.
    check_interval_seconds:
        Also check on a clock timer this often (prices move positions past value limits and
        equity into drawdown without a fill); the same timer checks ``max_daily_loss``, so a
        loss run up by prices alone reaches the daily-loss breaker. ``None``: only after fills
        and order commands, which costs nothing per market-data message.
    """

    enabled: bool = True
    value_tolerance_pct: NonNegativeDecimal = Decimal(0)
    check_interval_seconds: PositiveDecimal | None = None


class BreakerConfig(_Frozen):
    """The circuit breakers of a :class:`~tradeloop.risk.breakers.CircuitBreakers`.

    Parameters
    ----------
    daily_loss_flatten:
        At ``max_daily_loss``, flatten every position and keep entries blocked until an
        operator resets the breaker. Off (the default): the risk engine only moves to REDUCING,
        and back to ACTIVE on the next UTC day.
    venue_errors, store_errors, risk_breach:
        See :class:`VenueErrorsConfig`, :class:`StoreErrorsConfig`, :class:`RiskBreachConfig`.
    """

    daily_loss_flatten: bool = False
    venue_errors: VenueErrorsConfig = VenueErrorsConfig()
    store_errors: StoreErrorsConfig = StoreErrorsConfig()
    risk_breach: RiskBreachConfig = RiskBreachConfig()


class CorrelationConfig(_Frozen):
    """The correlated-exposure limit (see :mod:`tradeloop.risk.correlation`).

    Parameters
    ----------
    window:
        Returns per instrument the correlation is measured over (at least 3).
    sample_seconds:
        Sample every instrument's last price on a clock timer this often; ``None`` samples
        each bar close instead (feed one bar type per instrument then).
    threshold:
        Instruments whose correlation with the order's instrument is at least this (0 to 1]
        count towards its correlated exposure.
    max_correlated_exposure:
        The most correlated exposure (money, account currency) a new position may lead to.
    """

    window: int = Field(30, ge=3)
    sample_seconds: PositiveDecimal | None = None
    threshold: Decimal = Field(Decimal("0.7"), gt=0, le=1, allow_inf_nan=False)
    max_correlated_exposure: PositiveDecimal

    @property
    def sample_ns(self) -> int | None:
        """The sampling interval in nanoseconds, ``None`` for bar closes."""
        return None if self.sample_seconds is None else int(self.sample_seconds * NANOS_PER_SECOND)


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
        When the day's loss reaches this amount, only position-reducing orders pass (see also
        ``breakers.daily_loss_flatten``).
    max_drawdown_pct:
        A drawdown from the equity peak past this percentage is a risk breach (``10`` = 10 %);
        enforced by the ``risk_breach`` circuit breaker, not per order.
    breakers:
        The circuit breakers (:class:`BreakerConfig`).
    correlation:
        The correlated-exposure limit (:class:`CorrelationConfig`); ``None``: off.
    blackout_calendar:
        A CSV or YAML file of windows in which instruments may not open positions (see
        :func:`tradeloop.risk.authorisation.load_blackout_calendar`); ``None``: none.
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
    max_drawdown_pct: Annotated[PositiveDecimal, Field(le=100)] | None = None
    breakers: BreakerConfig = BreakerConfig()
    correlation: CorrelationConfig | None = None
    blackout_calendar: Path | None = None

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
