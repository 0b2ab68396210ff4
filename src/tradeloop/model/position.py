"""Positions: netted per (strategy, instrument), with exact FIFO lot accounting.

A fill that trades toward zero closes the oldest lots first; realized P&L is the sum over the
closed parts of ``(exit - entry) x size x multiplier`` in the instrument's sign, minus the
commissions of the position's fills: exact integer arithmetic, no averaging. ``avg_px_open``
(the average entry of what is still open) is reported as a ``Decimal`` for display and never
feeds the ledger. A fill that crosses zero closes this position and opens the next one with
the rest.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from tradeloop.core.ids import InstrumentId, PositionId, StrategyId
from tradeloop.model.enums import OrderSide, PositionSide
from tradeloop.model.events import OrderFilled
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_SCALAR, Money, Quantity

__all__ = ["Position"]


class Position:
    """One position from its first fill until it is flat."""

    __slots__ = (
        "_cost",
        "_entry_notional",
        "_entry_raw",
        "_exit_notional",
        "_exit_raw",
        "_lots",
        "commissions_raw",
        "entry_side",
        "fill_count",
        "id",
        "instrument",
        "last_px_raw",
        "net_raw",
        "peak_raw",
        "realized_gross_raw",
        "strategy_id",
        "ts_closed",
        "ts_last",
        "ts_opened",
    )

    def __init__(
        self, position_id: PositionId, instrument: Instrument, strategy_id: StrategyId, ts: int
    ) -> None:
        self.id = position_id
        self.instrument = instrument
        self.strategy_id = strategy_id
        self.net_raw = 0  # signed size raw: long > 0, short < 0
        self._lots: deque[list[int]] = deque()  # [signed size raw, price raw], oldest first
        self._cost = 0  # sum of signed size raw x price raw over open lots (scale 10**18)
        self.realized_gross_raw = 0
        self.commissions_raw = 0
        self.ts_opened = ts
        self.ts_closed: int | None = None
        self.ts_last = ts
        self.entry_side: OrderSide | None = None
        self.peak_raw = 0
        self.fill_count = 0
        self.last_px_raw = 0
        self._entry_notional = 0  # sum of price raw x size raw of opening trades (scale 10**18)
        self._entry_raw = 0
        self._exit_notional = 0
        self._exit_raw = 0

    @property
    def instrument_id(self) -> InstrumentId:
        return self.instrument.id

    @property
    def side(self) -> PositionSide:
        n = self.net_raw
        return PositionSide.LONG if n > 0 else PositionSide.SHORT if n < 0 else PositionSide.FLAT

    @property
    def is_open(self) -> bool:
        return self.ts_closed is None

    @property
    def is_closed(self) -> bool:
        return self.ts_closed is not None

    @property
    def quantity(self) -> Quantity:
        return Quantity(abs(self.net_raw), self.instrument.size_precision)

    @property
    def avg_px_open(self) -> Decimal:
        """Average entry price of the open lots (0 when flat)."""
        if not self.net_raw:
            return Decimal(0)
        return Decimal(self._cost) / Decimal(self.net_raw) / Decimal(FIXED_SCALAR)

    @property
    def avg_entry_px(self) -> Decimal:
        """Average price of every trade that opened or added to the position."""
        if not self._entry_raw:
            return Decimal(0)
        return Decimal(self._entry_notional) / Decimal(self._entry_raw) / Decimal(FIXED_SCALAR)

    @property
    def avg_exit_px(self) -> Decimal:
        """Average price of every trade that reduced the position (0 before the first)."""
        if not self._exit_raw:
            return Decimal(0)
        return Decimal(self._exit_notional) / Decimal(self._exit_raw) / Decimal(FIXED_SCALAR)

    @property
    def peak_quantity(self) -> Quantity:
        return Quantity(self.peak_raw, self.instrument.size_precision)

    @property
    def realized_pnl_raw(self) -> int:
        return self.realized_gross_raw - self.commissions_raw

    @property
    def realized_pnl(self) -> Money:
        return Money(self.realized_pnl_raw, self.instrument.quote_currency)

    @property
    def commissions(self) -> Money:
        return Money(self.commissions_raw, self.instrument.quote_currency)

    def unrealized_pnl_raw(self, mark_raw: int) -> int:
        """Exact unrealized P&L raw of the open lots at ``mark_raw``."""
        return (mark_raw * self.net_raw - self._cost) * self.instrument.multiplier // FIXED_SCALAR

    def unrealized_pnl(self, mark_raw: int) -> Money:
        return Money(self.unrealized_pnl_raw(mark_raw), self.instrument.quote_currency)

    def market_value_raw(self, mark_raw: int) -> int:
        """Signed value of the open lots at ``mark_raw``."""
        return mark_raw * self.net_raw * self.instrument.multiplier // FIXED_SCALAR

    def apply(self, fill: OrderFilled, qty_raw: int) -> int:
        """Apply ``qty_raw`` of ``fill`` (all of it, or what is left before crossing zero).

        Returns the realized gross P&L raw of this part. The caller splits a fill that
        crosses zero and opens a new position with the remainder.
        """
        px = fill.last_px.raw
        signed = qty_raw if fill.order_side is OrderSide.BUY else -qty_raw
        if self.entry_side is None:
            self.entry_side = fill.order_side
        realized = 0
        lots = self._lots
        remaining = signed
        mult = self.instrument.multiplier
        # Close against opposite lots, oldest first.
        while remaining and lots and (lots[0][0] > 0) != (remaining > 0):
            lot = lots[0]
            take = min(abs(remaining), abs(lot[0]))
            lot_sign = 1 if lot[0] > 0 else -1
            realized += (px - lot[1]) * take * lot_sign * mult // FIXED_SCALAR
            self._cost -= lot_sign * take * lot[1]
            lot[0] -= lot_sign * take
            remaining += lot_sign * take
            if lot[0] == 0:
                lots.popleft()
        closed = abs(signed - remaining)
        if closed:
            self._exit_notional += px * closed
            self._exit_raw += closed
        if remaining:
            lots.append([remaining, px])
            self._cost += remaining * px
            self._entry_notional += px * abs(remaining)
            self._entry_raw += abs(remaining)
        self.net_raw += signed
        if abs(self.net_raw) > self.peak_raw:
            self.peak_raw = abs(self.net_raw)
        self.realized_gross_raw += realized
        self.fill_count += 1
        self.last_px_raw = px
        self.ts_last = fill.ts_event
        if self.net_raw == 0:
            self.ts_closed = fill.ts_event
        return realized

    def add_commission(self, raw: int) -> None:
        self.commissions_raw += raw

    def __repr__(self) -> str:
        return (
            f"Position({self.id} {self.side.value} {self.quantity} {self.instrument.id} "
            f"avg {self.avg_px_open:.{self.instrument.price_precision + 2}f} realized {self.realized_pnl})"
        )
