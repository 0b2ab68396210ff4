"""Methods: one named bundle of settings per way of trading.

A method decides how a position is entered, sized, watched and exited. Many methods live in
one node (``lifecycle.methods`` in the YAML config, keyed by name); a position remembers the
method that opened it, and every threshold the lifecycle uses comes from that method.

Units: percentages are percent (``15`` = 15 %), times are seconds, quantities are in the
instrument's units and money in the account currency. Every decimal has at most nine decimal
places, so it compiles to an exact fixed-point raw.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from tradeloop.model.objects import FIXED_PRECISION

__all__ = [
    "EntrySettings",
    "ExecutionSettings",
    "ExitRules",
    "LifecycleConfig",
    "MarketCloseRule",
    "MethodConfig",
    "MonitorSettings",
    "PriorityExecution",
    "ProfitTarget",
    "ScaleOutLevel",
    "SizingSettings",
    "TrailingStopRule",
    "VolatilityRule",
]


def _nine_places(value: Decimal) -> Decimal:
    scaled = value.scaleb(FIXED_PRECISION)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {FIXED_PRECISION} decimal places")
    return value


Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False), AfterValidator(_nine_places)]
"""A finite decimal above zero with at most nine decimal places."""
NonNegative = Annotated[Decimal, Field(ge=0, allow_inf_nan=False), AfterValidator(_nine_places)]
Percent = Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False), AfterValidator(_nine_places)]
"""A percentage in (0, 100]."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntrySettings(_Frozen):
    """When an edge becomes an entry order, and what happens when it does not fill.

    Parameters
    ----------
    min_edge_pct:
        Smallest edge worth entering (``5`` = the edge must be at least 0.05).
    min_confidence:
        Smallest confidence (0..1) of the signal.
    order_type:
        ``limit`` (at the reference price, ``limit_offset_ticks`` more aggressive) or ``market``.
    limit_offset_ticks:
        Ticks past the reference price toward the market (``0`` = at the price).
    fill_timeout_seconds:
        How long an entry order may work before ``on_no_fill`` applies.
    on_no_fill:
        ``retry`` (same price again), ``walk`` (``walk_ticks`` more aggressive each attempt) or
        ``cancel`` (give up at once).
    max_attempts:
        Orders placed at most, the first included; then the entry is abandoned.
    walk_ticks:
        Ticks added per walk.
    """

    min_edge_pct: NonNegative = Decimal(5)
    min_confidence: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)
    order_type: Literal["limit", "market"] = "limit"
    limit_offset_ticks: int = Field(0, ge=0)
    fill_timeout_seconds: Positive = Decimal(30)
    on_no_fill: Literal["retry", "walk", "cancel"] = "walk"
    max_attempts: int = Field(3, ge=1)
    walk_ticks: int = Field(1, ge=1)


class SizingSettings(_Frozen):
    """How much to enter.

    ``kelly``: fractional Kelly from the signal's win probability and payoff ratio;
    ``fixed``: ``quantity``; ``fraction``: ``equity_pct`` of equity at the entry price.
    The result is clamped to ``max_quantity`` and ``max_notional``; below ``min_quantity``
    the entry is rejected (``sizing: ...``).
    """

    rule: Literal["kelly", "fixed", "fraction"] = "kelly"
    kelly_fraction: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.5")
    quantity: Positive | None = None
    equity_pct: Percent | None = None
    min_quantity: Positive | None = None
    max_quantity: Positive | None = None
    max_notional: Positive | None = None

    @model_validator(mode="after")
    def _rule_has_its_setting(self) -> SizingSettings:
        if self.rule == "fixed" and self.quantity is None:
            raise ValueError("sizing rule 'fixed' needs 'quantity'")
        if self.rule == "fraction" and self.equity_pct is None:
            raise ValueError("sizing rule 'fraction' needs 'equity_pct'")
        low, high = self.min_quantity, self.max_quantity
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_quantity {self.min_quantity} is above max_quantity {self.max_quantity}")
        return self


class MonitorSettings(_Frozen):
    """How often an open position is checked, and when its data counts as stale.

    The interval is ``interval_seconds``, or ``urgent_interval_seconds`` while the price is
    within ``urgent_band_pct`` of the position's stop or target. A price older than
    ``price_ttl_seconds`` is refreshed before a decision; a position without an update for
    ``stale_alert_seconds`` raises an alert.
    """

    interval_seconds: Positive = Decimal(30)
    urgent_interval_seconds: Positive = Decimal(5)
    urgent_band_pct: Percent = Decimal(2)
    price_ttl_seconds: Positive = Decimal(10)
    stale_alert_seconds: Positive = Decimal(120)

    @model_validator(mode="after")
    def _urgent_is_faster(self) -> MonitorSettings:
        if self.urgent_interval_seconds > self.interval_seconds:
            raise ValueError(
                f"urgent_interval_seconds ({self.urgent_interval_seconds}) must not exceed "
                f"interval_seconds ({self.interval_seconds})"
            )
        return self


class TrailingStopRule(_Frozen):
    """A stop that follows the best price since the position opened, never back.

    It activates once the position's P&L reaches ``activation_pct`` (``0`` = at once) and then
    sits ``distance_pct`` of the peak, or ``atr_multiple`` x ATR(``atr_period``) of bars,
    behind the peak. Exactly one distance is set.
    """

    activation_pct: NonNegative = Decimal(0)
    distance_pct: Percent | None = None
    atr_multiple: Positive | None = None
    atr_period: int = Field(14, ge=1)

    @model_validator(mode="after")
    def _one_distance(self) -> TrailingStopRule:
        if (self.distance_pct is None) == (self.atr_multiple is None):
            raise ValueError("a trailing stop needs exactly one of 'distance_pct' and 'atr_multiple'")
        return self


class ScaleOutLevel(_Frozen):
    """At ``pnl_pct`` profit, close ``close_pct`` of the position's peak quantity."""

    pnl_pct: Positive
    close_pct: Percent


class ProfitTarget(_Frozen):
    """Close everything at ``target_pct`` profit; scale out partly at the levels below it."""

    target_pct: Positive = Decimal(25)
    scale_out: tuple[ScaleOutLevel, ...] = ()

    @field_validator("scale_out")
    @classmethod
    def _ascending_below_target(cls, levels: tuple[ScaleOutLevel, ...]) -> tuple[ScaleOutLevel, ...]:
        pcts = [level.pnl_pct for level in levels]
        if pcts != sorted(set(pcts)):
            raise ValueError("scale_out levels must have distinct pnl_pct in ascending order")
        if sum(level.close_pct for level in levels) >= 100:
            raise ValueError("scale_out levels must close less than 100% together")
        return levels

    @model_validator(mode="after")
    def _levels_below_target(self) -> ProfitTarget:
        for level in self.scale_out:
            if level.pnl_pct >= self.target_pct:
                raise ValueError(
                    f"scale-out level {level.pnl_pct}% is not below the target {self.target_pct}%"
                )
        return self


class VolatilityRule(_Frozen):
    """A volatility spike: the standard deviation of the last ``window`` price returns is at
    least ``ratio`` times that of the last ``baseline_window`` returns."""

    window: int = Field(10, ge=2)
    baseline_window: int = Field(100, ge=3)
    ratio: Positive = Decimal(3)

    @model_validator(mode="after")
    def _baseline_longer(self) -> VolatilityRule:
        if self.baseline_window <= self.window:
            raise ValueError("baseline_window must be longer than window")
        return self


class MarketCloseRule(_Frozen):
    """Exit ``lead_seconds`` before the session closes at ``time`` in ``timezone``."""

    time: str = "16:00"
    timezone: str = "America/New_York"
    lead_seconds: Positive = Decimal(300)

    @field_validator("time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        hours, sep, minutes = value.partition(":")
        if not (sep and hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError(f"expected HH:MM, got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class ExitRules(_Frozen):
    """The exit conditions a position is evaluated against; ``None`` turns one off.

    ``stop_loss_pct``: P&L at or below minus this. ``max_spread_pct``: the quoted spread, as a
    percentage of the mid, at or above this (liquidity collapse). ``max_holding_seconds``:
    held this long. ``edge_decay_pct``: the latest edge of the instrument below this.
    ``expiry_lead_seconds``: this close to the instrument's expiry or settlement.
    """

    stop_loss_pct: Percent | None = Decimal(15)
    trailing_stop: TrailingStopRule | None = None
    profit_target: ProfitTarget | None = None
    max_spread_pct: Positive | None = None
    volatility: VolatilityRule | None = None
    max_holding_seconds: Positive | None = None
    edge_decay_pct: NonNegative | None = None
    expiry_lead_seconds: Positive | None = None
    market_close: MarketCloseRule | None = None


OrderStyle = Literal["market", "aggressive_limit", "fair_limit", "conservative_limit"]
Escalation = Literal["immediate_market", "walk_then_market", "walk_price", "walk_slowly"]


class PriorityExecution(_Frozen):
    """How an exit of one priority is executed.

    ``style``: ``market``; ``aggressive_limit`` (crossing the spread by ``offset_ticks``);
    ``fair_limit`` (at the mid, rounded toward the market); ``conservative_limit`` (at the
    own side of the book, ``offset_ticks`` better). When the order has not filled after
    ``timeout_seconds``, ``escalation`` applies: ``immediate_market`` (market for the rest);
    ``walk_then_market`` (``walk_ticks`` more aggressive, ``max_walks`` times, then market);
    ``walk_price`` (walk ``max_walks`` times, then give up: ``ExitFailed``); ``walk_slowly``
    (walk one tick at a time, doubling the wait each step, ``max_walks`` times, then market).
    """

    style: OrderStyle
    timeout_seconds: Positive
    escalation: Escalation = "walk_then_market"
    max_walks: int = Field(2, ge=0)
    walk_ticks: int = Field(1, ge=1)
    offset_ticks: int = Field(1, ge=0)


class ExecutionSettings(_Frozen):
    """Exit execution per priority (defaults as the position lifecycle issue states them)."""

    critical: PriorityExecution = PriorityExecution(
        style="market", timeout_seconds=Decimal(5), escalation="immediate_market"
    )
    high: PriorityExecution = PriorityExecution(
        style="aggressive_limit", timeout_seconds=Decimal(10), escalation="walk_then_market"
    )
    medium: PriorityExecution = PriorityExecution(
        style="fair_limit", timeout_seconds=Decimal(30), escalation="walk_then_market"
    )
    low: PriorityExecution = PriorityExecution(
        style="conservative_limit", timeout_seconds=Decimal(120), escalation="walk_slowly", max_walks=5
    )


class MethodConfig(_Frozen):
    """Everything that decides how a position is entered, sized, watched and exited."""

    entry: EntrySettings = EntrySettings()
    sizing: SizingSettings = SizingSettings()
    monitor: MonitorSettings = MonitorSettings()
    exits: ExitRules = ExitRules()
    execution: ExecutionSettings = ExecutionSettings()


class LifecycleConfig(_Frozen):
    """The ``lifecycle`` section of a node config: its methods, by name."""

    methods: dict[str, MethodConfig] = Field(default_factory=dict)

    @field_validator("methods")
    @classmethod
    def _names(cls, value: dict[str, MethodConfig]) -> dict[str, MethodConfig]:
        for name in value:
            if not name or not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"method name {name!r}: use letters, digits, '-' and '_'")
        return value

    def method(self, name: str) -> MethodConfig:
        """The method called ``name``; raises ``KeyError`` naming the known ones."""
        try:
            return self.methods[name]
        except KeyError:
            known = ", ".join(sorted(self.methods)) or "none"
            raise KeyError(f"unknown method {name!r} (known: {known})") from None
