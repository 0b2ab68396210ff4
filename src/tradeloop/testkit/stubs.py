"""Stub instruments, market data, fills, ids and a clock for tests.

Everything here is built through the public model API, so a stub is exactly what production
code would build from the same values. Values are given as decimal strings (or ``Decimal``,
``int``) and snapped onto the instrument's precision; a value off the instrument's grid raises
:class:`~tradeloop.core.errors.ValueRangeError`, as it would in production.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import ClassVar

from tradeloop.core.clock import NANOS_PER_SECOND, SimulatedClock
from tradeloop.core.ids import (
    AccountId,
    ClientOrderId,
    IdFactory,
    PositionId,
    StrategyId,
    TradeId,
    VenueOrderId,
)
from tradeloop.core.message import Message
from tradeloop.model.commands import OrderSpec, SubmitOrder
from tradeloop.model.data import Bar, BarSpec, QuoteTick, TradeTick
from tradeloop.model.enums import AggressorSide, LiquiditySide, OrderSide, OrderType, PositionSide
from tradeloop.model.events import (
    AccountStateChanged,
    OrderAccepted,
    OrderFilled,
    PositionEvent,
    PositionOpened,
)
from tradeloop.model.instruments import (
    BinaryEventContract,
    CryptoSpot,
    Equity,
    FuturesContract,
    FxPair,
    Instrument,
)
from tradeloop.model.objects import Money, Price, Quantity, currency_precision, fee_raw

__all__ = [
    "DEFAULT_SEED",
    "TestClock",
    "aapl_equity",
    "btcusdt",
    "es_future",
    "eurusd",
    "event_contract",
    "id_factory",
    "make_bar",
    "make_fill",
    "make_order_round",
    "make_quote",
    "make_trade",
]

DEFAULT_SEED = 42
"""Seed of :func:`id_factory` when none is given."""

ValueLike = Decimal | str | int

# Default event and trade ids only need to be unique within a test process; a test that
# compares ids passes its own ``ids=`` factory.
_default_ids = IdFactory(DEFAULT_SEED)
_trade_seq = itertools.count(1)


class TestClock(SimulatedClock):
    """A :class:`SimulatedClock` for tests (same behaviour; pytest does not collect it)."""

    __slots__ = ()
    __test__: ClassVar[bool] = False


def id_factory(seed: int = DEFAULT_SEED) -> IdFactory:
    """A seeded :class:`IdFactory`: the same seed mints the same ids."""
    return IdFactory(seed)


# -- instruments ---------------------------------------------------------------------------


def es_future() -> Instrument:
    """E-mini S&P 500 future ``ESZ4.CME``: 0.25 tick, whole contracts, 50 USD a point."""
    return FuturesContract("ESZ4.CME", tick="0.25", multiplier=50)


def aapl_equity() -> Instrument:
    """``AAPL.XNAS``: cents and whole shares, no fees."""
    return Equity("AAPL.XNAS")


def btcusdt() -> Instrument:
    """``BTCUSDT.BINANCE``: 0.01 USDT tick, 0.000001 BTC lot, 10 bps maker and taker."""
    return CryptoSpot("BTCUSDT.BINANCE", quote_currency="USDT", tick="0.01", lot="0.000001")


def eurusd() -> Instrument:
    """``EURUSD.SIM``: 0.00001 tick, 1,000-unit lots, 0.2 bps taker."""
    return FxPair("EURUSD.SIM")


def event_contract() -> Instrument:
    """``FEDCUT-25DEC.KALSHI``: a binary event contract priced 0.01 to 0.99 USD."""
    return BinaryEventContract("FEDCUT-25DEC.KALSHI")


# -- market data ---------------------------------------------------------------------------


def _price(instrument: Instrument, value: ValueLike | Price) -> Price:
    return value if isinstance(value, Price) else instrument.make_price(value)


def _qty(instrument: Instrument, value: ValueLike | Quantity) -> Quantity:
    return value if isinstance(value, Quantity) else instrument.make_qty(value)


def make_bar(
    instrument: Instrument,
    open: ValueLike | Price,
    high: ValueLike | Price,
    low: ValueLike | Price,
    close: ValueLike | Price,
    volume: ValueLike | Quantity = 100,
    *,
    ts_ns: int = 60 * NANOS_PER_SECOND,
    spec: str | BarSpec = "1-MINUTE",
) -> Bar:
    """A bar of ``instrument`` closing at ``ts_ns`` (``ts_event == ts_init``)."""
    return Bar(
        ts_event=ts_ns,
        ts_init=ts_ns,
        instrument_id=instrument.id,
        spec=spec if isinstance(spec, BarSpec) else BarSpec.parse(spec),
        open=_price(instrument, open),
        high=_price(instrument, high),
        low=_price(instrument, low),
        close=_price(instrument, close),
        volume=_qty(instrument, volume),
    )


def make_trade(
    instrument: Instrument,
    price: ValueLike | Price,
    size: ValueLike | Quantity = 1,
    *,
    ts_ns: int = NANOS_PER_SECOND,
    aggressor_side: AggressorSide = AggressorSide.NO_AGGRESSOR,
    trade_id: str = "",
) -> TradeTick:
    """A trade print of ``instrument`` at ``ts_ns``."""
    return TradeTick(
        ts_event=ts_ns,
        ts_init=ts_ns,
        instrument_id=instrument.id,
        price=_price(instrument, price),
        size=_qty(instrument, size),
        aggressor_side=aggressor_side,
        trade_id=trade_id,
    )


def make_quote(
    instrument: Instrument,
    bid: ValueLike | Price,
    ask: ValueLike | Price,
    bid_size: ValueLike | Quantity = 1,
    ask_size: ValueLike | Quantity = 1,
    *,
    ts_ns: int = NANOS_PER_SECOND,
) -> QuoteTick:
    """A best bid/ask of ``instrument`` at ``ts_ns``."""
    return QuoteTick(
        ts_event=ts_ns,
        ts_init=ts_ns,
        instrument_id=instrument.id,
        bid_price=_price(instrument, bid),
        ask_price=_price(instrument, ask),
        bid_size=_qty(instrument, bid_size),
        ask_size=_qty(instrument, ask_size),
    )


# -- fills ---------------------------------------------------------------------------------


def make_fill(
    instrument: Instrument,
    side: OrderSide,
    quantity: ValueLike | Quantity,
    price: ValueLike | Price,
    *,
    commission: Money | None = None,
    liquidity_side: LiquiditySide = LiquiditySide.TAKER,
    order_type: OrderType = OrderType.MARKET,
    ts_ns: int = NANOS_PER_SECOND,
    client_order_id: str = "O-1",
    venue_order_id: str = "V-1",
    strategy_id: str = "S-1",
    account_id: str = "SIM-001",
    trade_id: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    ids: IdFactory | None = None,
) -> OrderFilled:
    """An :class:`OrderFilled` of ``quantity`` at ``price`` with sensible defaults.

    Parameters
    ----------
    commission:
        The fill's commission; by default the instrument's taker or maker fee rate (by
        ``liquidity_side``) applied to the notional with :func:`fee_raw`, in the quote currency.
    trade_id:
        Defaults to ``T-<n>`` from a process-wide counter.
    ids:
        Mints the event id and, unless given, the correlation id; defaults to a process-wide
        seeded factory. Pass your own for ids that do not depend on test order.
    """
    qty = _qty(instrument, quantity)
    px = _price(instrument, price)
    if commission is None:
        rate = instrument.taker_fee_raw if liquidity_side is LiquiditySide.TAKER else instrument.maker_fee_raw
        notional = instrument.notional_raw(px.raw, qty.raw)
        currency = instrument.quote_currency
        commission = Money(fee_raw(notional, rate, currency_precision(currency)), currency)
    minter = ids if ids is not None else _default_ids
    return OrderFilled(
        ts_event=ts_ns,
        ts_init=ts_ns,
        id=minter.new_id(),
        correlation_id=correlation_id if correlation_id is not None else minter.new_id(),
        causation_id=causation_id,
        strategy_id=StrategyId(strategy_id),
        instrument_id=instrument.id,
        client_order_id=ClientOrderId(client_order_id),
        venue_order_id=VenueOrderId(venue_order_id),
        account_id=AccountId(account_id),
        trade_id=TradeId(trade_id if trade_id is not None else f"T-{next(_trade_seq)}"),
        order_side=side,
        order_type=order_type,
        last_qty=qty,
        last_px=px,
        commission=commission,
        liquidity_side=liquidity_side,
    )


def make_order_round(
    instrument: Instrument,
    price: ValueLike,
    *,
    ts_ns: int,
    tag: str,
    ids: IdFactory,
    position_id: str | None = None,
    position_quantity: ValueLike | Quantity = 1,
    position_event: type[PositionEvent] = PositionOpened,
    cash: str = "100000",
    commissions: str = "2.5",
    currency: str = "USD",
    strategy_id: str = "S-1",
    account_id: str = "SIM-001",
) -> list[Message]:
    """The five messages of one market buy of 1 as a recording holds them, 1 ns apart from
    ``ts_ns``: ``SubmitOrder``, ``OrderAccepted``, ``OrderFilled`` at ``price``, a long
    position event and ``AccountStateChanged``, all with one new correlation id, each caused
    by the one before it (the account update by the fill).

    Parameters
    ----------
    tag:
        Names the order: client order ``O-<tag>``, venue order ``V-<tag>``, trade ``T-<tag>``
        and, unless ``position_id`` is given, position ``P-<tag>``.
    ids:
        Mints the correlation id and every message id, in that order.
    position_quantity, position_event:
        The position after the fill and the event class reporting it
        (:class:`PositionOpened` by default).
    cash, commissions, currency:
        The account update's balances.
    """
    strategy = StrategyId(strategy_id)
    coid = ClientOrderId(f"O-{tag}")
    corr = ids.new_id()
    submit = SubmitOrder(
        ts_event=ts_ns,
        ts_init=ts_ns,
        id=ids.new_id(),
        correlation_id=corr,
        strategy_id=strategy,
        instrument_id=instrument.id,
        order=OrderSpec(
            client_order_id=coid,
            strategy_id=strategy,
            instrument_id=instrument.id,
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            quantity=instrument.make_qty(1),
        ),
    )
    accepted = OrderAccepted(
        ts_event=ts_ns + 1,
        ts_init=ts_ns + 1,
        id=ids.new_id(),
        correlation_id=corr,
        causation_id=submit.id,
        strategy_id=strategy,
        instrument_id=instrument.id,
        client_order_id=coid,
        venue_order_id=VenueOrderId(f"V-{tag}"),
    )
    fill = make_fill(
        instrument,
        OrderSide.BUY,
        1,
        price,
        ts_ns=ts_ns + 2,
        client_order_id=str(coid),
        venue_order_id=f"V-{tag}",
        strategy_id=strategy_id,
        account_id=account_id,
        trade_id=f"T-{tag}",
        correlation_id=corr,
        causation_id=accepted.id,
        ids=ids,
    )
    position = position_event(
        ts_event=ts_ns + 3,
        ts_init=ts_ns + 3,
        id=ids.new_id(),
        correlation_id=corr,
        causation_id=fill.id,
        strategy_id=strategy,
        instrument_id=instrument.id,
        position_id=PositionId(position_id if position_id is not None else f"P-{tag}"),
        side=PositionSide.LONG,
        quantity=_qty(instrument, position_quantity),
        avg_px_open=str(price),
        realized_pnl=Money.from_str("0", currency),
        last_px=_price(instrument, price),
    )
    account = AccountStateChanged(
        ts_event=ts_ns + 4,
        ts_init=ts_ns + 4,
        id=ids.new_id(),
        correlation_id=corr,
        causation_id=fill.id,
        account_id=AccountId(account_id),
        cash=Money.from_str(cash, currency),
        commissions=Money.from_str(commissions, currency),
    )
    return [submit, accepted, fill, position, account]
