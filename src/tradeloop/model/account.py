"""The trading account: exact cash and fees in one currency."""

from __future__ import annotations

from tradeloop.core.ids import AccountId
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderFilled
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money, currency_precision

__all__ = ["Account"]


class Account:
    """Cash moves by each fill's notional (bought: out, sold: in) and its commission.

    Equity is cash plus the signed market value of open positions, which the portfolio adds.
    """

    __slots__ = ("cash_raw", "commissions_raw", "currency", "id", "starting_raw")

    def __init__(self, account_id: AccountId, starting_balance: Money) -> None:
        currency_precision(starting_balance.currency)
        self.id = account_id
        self.currency = starting_balance.currency
        self.cash_raw = starting_balance.raw
        self.starting_raw = starting_balance.raw
        self.commissions_raw = 0

    @property
    def cash(self) -> Money:
        return Money(self.cash_raw, self.currency)

    @property
    def commissions(self) -> Money:
        return Money(self.commissions_raw, self.currency)

    def apply_fill(self, fill: OrderFilled, instrument: Instrument) -> None:
        if fill.commission.currency != self.currency or instrument.quote_currency != self.currency:
            raise ValueError(
                f"account {self.id} is in {self.currency}; fill {fill.trade_id} is in "
                f"{instrument.quote_currency} with commission in {fill.commission.currency}"
            )
        notional = instrument.notional_raw(fill.last_px.raw, fill.last_qty.raw)
        if fill.order_side is OrderSide.BUY:
            self.cash_raw -= notional
        else:
            self.cash_raw += notional
        self.cash_raw -= fill.commission.raw
        self.commissions_raw += fill.commission.raw
