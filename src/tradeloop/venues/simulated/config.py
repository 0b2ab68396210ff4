"""Configuration of the simulated venue: account, fill, fee and latency models, faults.

Every class is a frozen dataclass that validates itself when built and raises
:class:`~tradeloop.core.errors.ConfigError` naming the offending key. Rates and fractions are
``Decimal`` (a float would put binary noise into the ledger); a probability is a float because
it only feeds a random draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from tradeloop.core.errors import ConfigError
from tradeloop.model.objects import FIXED_PRECISION, Money

__all__ = [
    "AccountType",
    "FaultConfig",
    "FeeModel",
    "FillModel",
    "LatencyModel",
    "SimulatedVenueConfig",
]


class AccountType(StrEnum):
    """How the venue checks that an account can carry an order."""

    CASH = "CASH"
    """No shorting; a buy needs the cash for its notional and taker fee."""
    MARGIN = "MARGIN"
    """Buying power is equity x leverage minus the gross exposure already carried."""


def _decimal(value: object, key: str) -> Decimal:
    if isinstance(value, float) or not isinstance(value, Decimal | int | str):
        raise ConfigError(f"{key} must be a Decimal (or an int or decimal string), got {value!r}")
    try:
        dec = Decimal(value)
    except ArithmeticError:
        raise ConfigError(f"{key}: {value!r} is not a number") from None
    if not dec.is_finite():
        raise ConfigError(f"{key} must be finite, got {value!r}")
    scaled = dec.scaleb(FIXED_PRECISION)
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{key}: {value} has more than {FIXED_PRECISION} decimal places")
    return dec


def _fraction(value: object, key: str) -> Decimal:
    dec = _decimal(value, key)
    if not 0 < dec <= 1:
        raise ConfigError(f"{key} must be in (0, 1], got {dec}")
    return dec


def _non_negative_int(value: object, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FillModel:
    """How much of an order a data point can fill, and at what cost to the taker.

    Parameters
    ----------
    max_volume_participation:
        The largest fraction of a bar's volume, a trade's size or the top-of-book size on the
        side taken that one order may fill per data point (rounded down to the lot size).
        The remainder keeps working and fills on later data points. ``None``: no cap.
    slippage_ticks:
        Ticks added against the taker to market, stop-market and trailing-stop fills (a buy
        pays more, a sell receives less), clamped to the instrument's price band.
    """

    max_volume_participation: Decimal | None = None
    slippage_ticks: int = 0

    def __post_init__(self) -> None:
        if self.max_volume_participation is not None:
            object.__setattr__(
                self,
                "max_volume_participation",
                _fraction(self.max_volume_participation, "fill_model.max_volume_participation"),
            )
        _non_negative_int(self.slippage_ticks, "fill_model.slippage_ticks")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeModel:
    """Fee rates; ``None`` uses the instrument's own maker or taker rate.

    A rate is a fraction of notional (``Decimal("0.0002")`` is 2 bps); a negative rate is a
    rebate. Commissions are computed with :func:`tradeloop.model.fee_raw`.
    """

    maker_fee: Decimal | None = None
    taker_fee: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("maker_fee", "taker_fee"):
            value = getattr(self, name)
            if value is None:
                continue
            rate = _decimal(value, f"fee_model.{name}")
            if abs(rate) >= 1:
                raise ConfigError(f"fee_model.{name} {rate} is not a fee rate (|rate| < 1)")
            object.__setattr__(self, name, rate)


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyModel:
    """Delay between a command leaving the client and reaching the venue.

    A command sent at ``ts`` arrives at ``ts + base_ns + uniform(0, jitter_ns)`` (whole
    nanoseconds, both ends included), drawn from ``random.Random(seed)``, so a run is
    repeatable. Commands never overtake each other (one ordered connection). With both
    values zero a command is handled at once, inside the call that sent it.
    """

    base_ns: int = 0
    jitter_ns: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        _non_negative_int(self.base_ns, "latency_model.base_ns")
        _non_negative_int(self.jitter_ns, "latency_model.jitter_ns")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"latency_model.seed must be an integer, got {self.seed!r}")

    @property
    def is_zero(self) -> bool:
        """Whether commands are handled at once."""
        return self.base_ns == 0 and self.jitter_ns == 0


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultConfig:
    """Failures to inject, for testing what sits above the venue. All draws use ``seed``.

    Parameters
    ----------
    reject_orders:
        Reject every new order.
    reject_probability:
        Reject each new order with this probability (0 to 1).
    never_fill_limit_orders:
        Limit orders (and triggered stop-limits) accept and rest but never fill; an IOC or FOK
        limit is canceled instead.
    max_fill_fraction:
        Fill at most this fraction of an order's quantity per data point (rounded down to the
        lot size, at least one lot), producing partial fills.
    cancel_rejects:
        Answer every cancel with ``OrderCancelRejected``.
    api_error_probability:
        Fail each new order's submit call with this probability (0 to 1), as an API error
        would: ``VenueErrorOccurred`` (operation ``submit_order``), then ``OrderRejected``
        with a reason ``"venue error: ..."``. Checked before every other rule.
    seed:
        Seed of the generators behind ``reject_probability`` and ``api_error_probability``
        (each has its own, so one does not shift the other's draws).
    """

    reject_orders: bool = False
    reject_probability: float = 0.0
    never_fill_limit_orders: bool = False
    max_fill_fraction: Decimal | None = None
    cancel_rejects: bool = False
    api_error_probability: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("reject_probability", "api_error_probability"):
            p = getattr(self, key)
            if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
                raise ConfigError(f"faults.{key} must be between 0 and 1, got {p!r}")
        if self.max_fill_fraction is not None:
            object.__setattr__(
                self, "max_fill_fraction", _fraction(self.max_fill_fraction, "faults.max_fill_fraction")
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"faults.seed must be an integer, got {self.seed!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedVenueConfig:
    """Everything a :class:`~tradeloop.venues.simulated.SimulatedExchange` is built with.

    Parameters
    ----------
    starting_balances:
        The account's opening cash; its currency is the ledger's one currency, and every
        instrument must be quoted in it.
    account_type:
        ``CASH`` or ``MARGIN`` (an :class:`AccountType` or its name).
    leverage:
        MARGIN only: buying power is equity x leverage minus gross exposure.
    fill_model, fee_model, latency_model, faults:
        See the classes.
    bar_execution:
        Whether bars drive matching. Turn it off when the same instrument is also fed quote or
        trade ticks, so one market move does not match twice; bars then only update the last
        known price.
    account_id:
        The account id reported in fills; defaults to ``"<venue>-001"``.
    """

    starting_balances: Money
    account_type: AccountType = AccountType.CASH
    leverage: Decimal = Decimal(1)
    fill_model: FillModel = field(default_factory=FillModel)
    fee_model: FeeModel = field(default_factory=FeeModel)
    latency_model: LatencyModel = field(default_factory=LatencyModel)
    faults: FaultConfig = field(default_factory=FaultConfig)
    bar_execution: bool = True
    account_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.starting_balances, Money):
            raise ConfigError(f"starting_balances must be a Money, got {self.starting_balances!r}")
        if self.starting_balances.raw < 0:
            raise ConfigError(f"starting_balances must not be negative, got {self.starting_balances}")
        try:
            account_type = AccountType(self.account_type)
        except ValueError:
            raise ConfigError(
                f"account_type must be one of {[t.value for t in AccountType]}, got {self.account_type!r}"
            ) from None
        object.__setattr__(self, "account_type", account_type)
        leverage = _decimal(self.leverage, "leverage")
        if leverage < 1:
            raise ConfigError(f"leverage must be at least 1, got {leverage}")
        object.__setattr__(self, "leverage", leverage)
        for key, cls in (
            ("fill_model", FillModel),
            ("fee_model", FeeModel),
            ("latency_model", LatencyModel),
            ("faults", FaultConfig),
        ):
            if not isinstance(getattr(self, key), cls):
                raise ConfigError(f"{key} must be a {cls.__name__}, got {getattr(self, key)!r}")
        if self.account_id is not None and (not self.account_id or any(c.isspace() for c in self.account_id)):
            raise ConfigError(f"account_id must be a non-empty id without spaces, got {self.account_id!r}")
