"""The simulated venue's own books: cash, fees paid and net position per instrument.

This is what a real exchange would report about the account, kept independently of the
engine's portfolio so the two can be reconciled. All amounts are exact integers at the
fixed-point scale (``value x 10**9``); nothing here is ever rounded except :meth:`balance`
when the exact cash has more decimals than its currency shows.
"""

from __future__ import annotations

from tradeloop.core.ids import InstrumentId
from tradeloop.model.objects import Money, currency_precision, round_raw_half_even

__all__ = ["VenueLedger"]


class VenueLedger:
    """Exact cash, commissions and signed positions in one currency.

    Parameters
    ----------
    starting_balance:
        Opening cash; its currency is the ledger's.
    """

    __slots__ = (
        "_last_px",
        "_positions",
        "cash_raw",
        "commissions_raw",
        "currency",
        "precision",
        "starting_raw",
    )

    def __init__(self, starting_balance: Money) -> None:
        self.currency = starting_balance.currency
        self.precision = currency_precision(self.currency)
        self.cash_raw = starting_balance.raw
        self.starting_raw = starting_balance.raw
        self.commissions_raw = 0
        self._positions: dict[InstrumentId, int] = {}
        self._last_px: dict[InstrumentId, int] = {}

    def apply_fill(
        self, iid: InstrumentId, is_buy: bool, px_raw: int, qty_raw: int, notional_raw: int, fee_raw: int
    ) -> None:
        """Book one fill: cash moves by its notional (out for a buy) and by its fee."""
        notional = notional_raw
        if is_buy:
            self.cash_raw -= notional
            self._positions[iid] = self._positions.get(iid, 0) + qty_raw
        else:
            self.cash_raw += notional
            self._positions[iid] = self._positions.get(iid, 0) - qty_raw
        self.cash_raw -= fee_raw
        self.commissions_raw += fee_raw
        self._last_px[iid] = px_raw

    def position_raw(self, instrument_id: InstrumentId) -> int:
        """Signed net position (long > 0) as a raw quantity."""
        return self._positions.get(instrument_id, 0)

    def positions_raw(self) -> dict[InstrumentId, int]:
        """Every non-flat net position, by instrument."""
        return {iid: raw for iid, raw in self._positions.items() if raw}

    def last_fill_px_raw(self, instrument_id: InstrumentId) -> int | None:
        """Price of the latest fill of the instrument, or ``None`` before the first."""
        return self._last_px.get(instrument_id)

    def balance(self) -> Money:
        """Cash as ``Money``, rounded half to even only if it has more decimals than the currency."""
        return Money(round_raw_half_even(self.cash_raw, self.precision), self.currency)

    def commissions(self) -> Money:
        """Total commissions paid (a rebate counts negative)."""
        return Money(self.commissions_raw, self.currency)
