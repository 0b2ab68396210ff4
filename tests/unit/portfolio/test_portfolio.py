"""Portfolio: positions, cash and P&L projected from fills; marks, exposure, drawdown and curve.

Fills are published on a real bus with the portfolio subscribed, as a venue would publish
them. E-mini numbers: 0.25 tick, 50 USD a point, so one contract moving 10 points is 500 USD.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import AccountId, StrategyId
from tradeloop.core.message import Event, HandlerFailed
from tradeloop.model.account import Account
from tradeloop.model.enums import OrderSide, PositionSide
from tradeloop.model.events import (
    AccountStateChanged,
    OrderFilled,
    PositionChanged,
    PositionClosed,
    PositionEvent,
    PositionOpened,
)
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money, Price, Quantity
from tradeloop.portfolio import Portfolio
from tradeloop.testkit import (
    TestClock,
    aapl_equity,
    btcusdt,
    es_future,
    id_factory,
    make_bar,
    make_fill,
    make_quote,
    make_trade,
)

BUY, SELL = OrderSide.BUY, OrderSide.SELL
SEC = NANOS_PER_SECOND
MINUTE = 60 * SEC
DAY = 86_400 * SEC
START_NS = 19_700 * DAY + 14 * 3_600 * SEC  # 14:00 UTC


def usd(text: str) -> Money:
    return Money.from_str(text, "USD")


class Rig:
    def __init__(
        self, *, balance: str = "1000000", sample_ns: int = MINUTE, start_ns: int = START_NS
    ) -> None:
        self.clock = TestClock(start_ns)
        self.bus = MessageBus(self.clock, id_factory(1))
        self.es = es_future()
        self.aapl = aapl_equity()
        self.portfolio = Portfolio(
            self.bus,
            self.clock,
            id_factory(2),
            Account(AccountId("SIM-001"), usd(balance)),
            [self.es, self.aapl],
            equity_sample_ns=sample_ns,
        )
        self.events: list[Event] = []  # what the portfolio publishes, and handler failures
        for kind in (PositionEvent, AccountStateChanged, HandlerFailed):
            self.bus.subscribe(kind, self.events.append)
        self._ids = id_factory(3)
        self._trades = 0

    def at(self, ts: int | None) -> int:
        if ts is None:
            return self.clock.timestamp_ns()
        self.clock.set_time(ts)  # never backwards: a late event keeps its own ts_event
        return ts

    def fill(
        self,
        instrument: Instrument,
        side: OrderSide,
        qty: str | int,
        price: str,
        fee: str = "0",
        *,
        strategy: str = "S-1",
        ts: int | None = None,
    ) -> OrderFilled:
        self._trades += 1
        fill = make_fill(
            instrument,
            side,
            qty,
            price,
            commission=usd(fee),
            ts_ns=self.at(ts),
            strategy_id=strategy,
            trade_id=f"T-{self._trades}",
            ids=self._ids,
        )
        self.events.clear()
        self.bus.publish(fill)
        return fill

    def bar(self, instrument: Instrument, close: str, ts: int | None = None) -> None:
        self.bus.publish(make_bar(instrument, close, close, close, close, ts_ns=self.at(ts)))

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]


# -- positions from fills --------------------------------------------------------------------


def test_open_add_reduce_close_a_long_position_books_exact_fifo_pnl_and_cash() -> None:
    rig = Rig()
    p = rig.portfolio
    es = rig.es

    opened = rig.fill(es, BUY, 2, "5000.00", "2.00", ts=START_NS)
    pos = p.position(StrategyId("S-1"), es.id)
    assert pos is not None
    assert (pos.side, pos.quantity, pos.avg_px_open) == (
        PositionSide.LONG,
        Quantity.from_int(2),
        Decimal(5000),
    )
    assert rig.kinds() == ["PositionOpened", "AccountStateChanged"]
    assert p.cash() == usd("499998.00")  # 1,000,000 - 2 x 5000 x 50 - 2.00
    assert p.equity() == usd("999998.00")

    rig.fill(es, BUY, 1, "5010.00", "1.00")
    assert rig.kinds() == ["PositionChanged", "AccountStateChanged"]
    assert pos.quantity == Quantity.from_int(3)
    assert pos.avg_px_open.quantize(Decimal("0.0001")) == Decimal("5003.3333")
    assert pos.realized_pnl == usd("-3.00")

    rig.fill(es, SELL, 1, "5020.00", "1.00")  # closes the oldest lot: +20 points x 50
    assert rig.kinds() == ["PositionChanged", "AccountStateChanged"]
    assert pos.realized_pnl == usd("996.00")
    assert pos.avg_px_open == Decimal(5005)  # lots left: 5000 and 5010

    closed = rig.fill(es, SELL, 2, "4990.00", "2.00", ts=START_NS + 10 * MINUTE)
    assert rig.kinds() == ["PositionClosed", "AccountStateChanged"]
    event = rig.events[0]
    assert isinstance(event, PositionClosed)
    assert (event.side, event.quantity, event.realized_pnl) == (
        PositionSide.FLAT,
        Quantity(0, 0),
        usd("-506.00"),
    )
    assert event.duration_ns == closed.ts_event - opened.ts_event == 10 * MINUTE
    assert p.position(StrategyId("S-1"), es.id) is None
    assert p.positions_closed() == [pos]
    assert p.is_flat()
    assert p.is_flat(es.id)
    assert p.cash() == p.equity() == usd("999494.00")
    assert p.realized_pnl_raw() == usd("-506.00").raw
    assert p.account.commissions == usd("6.00")


def test_a_fill_that_crosses_zero_closes_the_position_with_the_whole_commission_and_opens_the_rest() -> None:
    rig = Rig()
    p = rig.portfolio
    rig.fill(rig.es, BUY, 2, "5000.00", "2.00")

    flip = rig.fill(rig.es, SELL, 5, "5010.00", "5.00")

    assert rig.kinds() == ["PositionClosed", "PositionOpened", "AccountStateChanged"]
    closed, opened, account = rig.events
    assert isinstance(closed, PositionClosed)
    assert isinstance(opened, PositionOpened)
    assert isinstance(account, AccountStateChanged)
    assert closed.position_id == "P-ESZ4.CME-S-1-1"
    assert closed.realized_pnl == usd("993.00")  # 10 x 2 x 50 - (2.00 + 5.00)
    assert opened.position_id == "P-ESZ4.CME-S-1-2"
    assert (opened.side, opened.quantity, opened.avg_px_open) == (
        PositionSide.SHORT,
        Quantity.from_int(3),
        "5010",
    )
    assert opened.realized_pnl == usd("0.00")  # no commission booked to the opening part
    for event in rig.events:
        assert (event.correlation_id, event.causation_id) == (flip.correlation_id, flip.id)

    rig.fill(rig.es, BUY, 3, "5000.00", "3.00")
    (first, second) = p.positions_closed()
    assert (first.realized_pnl, second.realized_pnl) == (usd("993.00"), usd("1497.00"))
    assert p.realized_pnl_raw() == usd("2490.00").raw
    assert p.cash() == usd("1002490.00")
    assert p.account.commissions == usd("10.00")


def test_position_ids_count_per_strategy_and_instrument() -> None:
    rig = Rig()
    rig.fill(rig.es, BUY, 1, "5000.00")
    rig.fill(rig.es, SELL, 1, "5000.00")
    rig.fill(rig.es, SELL, 1, "5000.00")  # a new short: the second position of S-1 on ES
    rig.fill(rig.es, BUY, 1, "5000.00", strategy="S-2")
    rig.fill(rig.aapl, BUY, 10, "150.00")

    ids = sorted(pos.id for pos in rig.portfolio.positions_open() + rig.portfolio.positions_closed())
    assert ids == [
        "P-AAPL.XNAS-S-1-1",
        "P-ESZ4.CME-S-1-1",
        "P-ESZ4.CME-S-1-2",
        "P-ESZ4.CME-S-2-1",
    ]
    assert [pos.id for pos in rig.portfolio.positions_open(StrategyId("S-2"))] == ["P-ESZ4.CME-S-2-1"]


def test_strategies_hold_separate_positions_and_the_net_sums_them() -> None:
    rig = Rig()
    rig.fill(rig.es, BUY, 3, "5000.00", strategy="A")
    rig.fill(rig.es, SELL, 1, "5000.00", strategy="B")

    p = rig.portfolio
    a = p.position(StrategyId("A"), rig.es.id)
    b = p.position(StrategyId("B"), rig.es.id)
    assert a is not None
    assert b is not None
    assert (a.side, b.side) == (PositionSide.LONG, PositionSide.SHORT)
    assert p.net_position_raw(rig.es.id) == Quantity.from_int(2).raw
    assert not p.is_flat(rig.es.id)


def test_account_state_changed_carries_cash_fees_and_the_fill_correlation_id() -> None:
    rig = Rig()
    rig.clock.set_time(START_NS + 7)
    fill = rig.fill(rig.aapl, BUY, 100, "150.25", "1.00", ts=START_NS + 5)

    account = rig.events[-1]
    assert isinstance(account, AccountStateChanged)
    assert account.account_id == "SIM-001"
    assert account.cash == usd("984974.00")  # 1,000,000 - 15,025 - 1
    assert account.commissions == usd("1.00")
    assert (account.correlation_id, account.causation_id) == (fill.correlation_id, fill.id)
    assert (account.ts_event, account.ts_init) == (START_NS + 5, START_NS + 7)  # fill time, clock time


def test_cash_stays_exact_with_sub_cent_crypto_notionals_and_fees() -> None:
    clock = TestClock(START_NS)
    bus = MessageBus(clock, id_factory(1))
    btc = btcusdt()
    portfolio = Portfolio(
        bus, clock, id_factory(2), Account(AccountId("BIN-001"), Money.from_str("100000", "USDT")), [btc]
    )
    ids = id_factory(3)
    cash = Decimal(100000)
    fees = Decimal(0)
    for side, qty, px in [
        (BUY, "0.123457", "43210.57"),
        (SELL, "0.000123", "43333.33"),
        (BUY, "1.5", "0.01"),
    ]:
        fill = make_fill(btc, side, qty, px, ids=ids)  # 10 bps taker fee, rounded to 8 places
        bus.publish(fill)
        notional = Decimal(qty) * Decimal(px)
        fee = (notional * Decimal("0.001")).quantize(Decimal("1E-8"))
        assert fill.commission.as_decimal() == fee
        cash += -notional - fee if side is BUY else notional - fee
        fees += fee

    assert portfolio.cash().as_decimal() == cash
    assert portfolio.account.commissions.as_decimal() == fees


def test_a_fill_for_an_unknown_instrument_is_reported_and_changes_nothing() -> None:
    rig = Rig()
    fill = make_fill(btcusdt(), BUY, "1", "100.00", commission=usd("0"), ids=id_factory(9))

    rig.bus.publish(fill)

    failures = [e for e in rig.events if isinstance(e, HandlerFailed)]
    assert len(failures) == 1
    assert "unknown instrument BTCUSDT.BINANCE" in failures[0].error
    assert failures[0].correlation_id == fill.correlation_id
    assert rig.portfolio.cash() == usd("1000000")
    assert rig.portfolio.fills == 0


def test_an_instrument_in_another_currency_is_refused() -> None:
    rig = Rig()
    with pytest.raises(TradeloopError, match="quoted in USDT but the account is in USD"):
        rig.portfolio.add_instrument(btcusdt())


# -- marks, unrealized P&L and exposure ------------------------------------------------------


def test_bars_trades_and_quote_mids_mark_positions_to_market() -> None:
    rig = Rig()
    p = rig.portfolio
    rig.fill(rig.es, BUY, 2, "5000.00")
    rig.fill(rig.aapl, SELL, 100, "150.00")  # short

    rig.bar(rig.es, "5012.25")
    rig.bus.publish(make_trade(rig.aapl, "149.50", ts_ns=rig.clock.timestamp_ns()))

    assert p.unrealized_pnl_raw() == usd("1275.00").raw  # 12.25 x 2 x 50 + 0.50 x 100
    assert p.exposure_raw(rig.es.id) == usd("501225").raw
    assert p.exposure_raw(rig.aapl.id) == usd("14950").raw
    assert p.gross_exposure_raw() == usd("516175").raw
    assert p.net_exposure_raw() == usd("486275").raw  # the short counts negative
    assert p.equity() == usd("1001275.00")
    assert p.last_price(rig.es.id) == Price.from_str("5012.25")

    rig.bus.publish(make_quote(rig.es, "5014.00", "5014.50", ts_ns=rig.clock.timestamp_ns()))
    assert p.last_price_raw(rig.es.id) == Price.from_str("5014.25").raw
    assert p.unrealized_pnl_raw() == usd("1475.00").raw


def test_a_quote_mid_between_ticks_marks_exactly_and_reads_back_as_a_price() -> None:
    rig = Rig()
    p = rig.portfolio
    rig.fill(rig.es, BUY, 2, "5000.00")

    rig.bus.publish(make_quote(rig.es, "5014.00", "5014.25", ts_ns=rig.clock.timestamp_ns()))

    assert p.unrealized_pnl_raw() == usd("1412.50").raw  # mid 5014.125
    assert p.last_price(rig.es.id) == Price.from_str("5014.125")


def test_marks_of_a_flat_instrument_are_kept_for_later_and_change_no_equity() -> None:
    rig = Rig()
    rig.bar(rig.es, "4000.00")
    assert rig.portfolio.equity() == usd("1000000")
    assert rig.portfolio.last_price(rig.es.id) == Price.from_str("4000.00")
    assert rig.portfolio.last_price(rig.aapl.id) is None

    rig.fill(rig.es, BUY, 1, "4001.00")  # bought 1 point above the last mark

    assert rig.portfolio.unrealized_pnl_raw() == usd("-50.00").raw
    assert rig.portfolio.equity() == usd("999950.00")


def test_peak_equity_drawdown_and_max_drawdown_follow_the_marks() -> None:
    rig = Rig()
    p = rig.portfolio
    rig.fill(rig.es, BUY, 1, "5000.00")
    seen = []
    for close in ("5010.00", "4990.00", "5004.00", "5020.00"):
        rig.bar(rig.es, close)
        seen.append((p.peak_equity_raw, p.drawdown_raw, p.max_drawdown_raw))

    assert seen == [
        (usd("1000500").raw, 0, 0),
        (usd("1000500").raw, usd("1000").raw, usd("1000").raw),
        (usd("1000500").raw, usd("300").raw, usd("1000").raw),
        (usd("1001000").raw, 0, usd("1000").raw),
    ]
    rig.bar(rig.es, "4990.00")
    assert p.drawdown_pct() == Decimal(1500) * 100 / Decimal(1001000)


# -- daily P&L -------------------------------------------------------------------------------


def test_daily_pnl_restarts_from_the_equity_at_the_utc_day_change() -> None:
    rig = Rig(start_ns=19_700 * DAY + 23 * 3_600 * SEC)
    p = rig.portfolio
    rig.fill(rig.es, BUY, 1, "5000.00")
    rig.bar(rig.es, "5010.00", ts=19_700 * DAY + 23 * 3_600 * SEC + 30 * MINUTE)
    assert p.daily_pnl_raw() == usd("500").raw

    rig.bar(rig.es, "5010.00", ts=19_701 * DAY + MINUTE)  # the first mark of the next UTC day
    assert p.day_start_equity_raw == usd("1000500").raw
    assert p.daily_pnl_raw() == 0

    rig.bar(rig.es, "5000.00", ts=19_701 * DAY + 2 * MINUTE)
    assert p.daily_pnl_raw() == usd("-500").raw
    assert p.equity() == usd("1000000")


def test_daily_pnl_counts_a_gap_between_the_last_close_and_the_first_mark_of_the_day() -> None:
    rig = Rig(start_ns=19_700 * DAY + 23 * 3_600 * SEC)
    p = rig.portfolio
    rig.fill(rig.es, BUY, 1, "5000.00")
    rig.bar(rig.es, "5010.00", ts=19_700 * DAY + 23 * 3_600 * SEC + 59 * MINUTE)  # the day's last close

    rig.bar(rig.es, "4910.00", ts=19_701 * DAY + MINUTE)  # opens the next day 100 points lower

    assert p.daily_pnl_raw() == usd("-5000").raw  # equity at midnight was 1,000,500


# -- equity curve ----------------------------------------------------------------------------


def test_the_equity_curve_samples_at_the_interval_and_at_every_fill() -> None:
    rig = Rig(sample_ns=MINUTE, start_ns=0)
    for t in (60, 90, 120, 150, 200):
        rig.bar(rig.es, "5000.00", ts=t * SEC)
    rig.fill(rig.es, BUY, 1, "5000.00", ts=210 * SEC)
    rig.bar(rig.es, "5001.00", ts=230 * SEC)
    rig.bar(rig.es, "5002.00", ts=270 * SEC)
    rig.fill(rig.es, SELL, 1, "5002.00", "1.00", ts=275 * SEC)

    curve = rig.portfolio.equity_curve
    assert [ts // SEC for ts, _ in curve] == [60, 120, 200, 210, 270, 275]
    assert [Money(raw, "USD") for _, raw in curve] == [
        usd("1000000"),
        usd("1000000"),
        usd("1000000"),
        usd("1000000"),
        usd("1000100"),
        usd("1000099"),
    ]


def test_an_equity_sample_interval_of_zero_records_every_mark() -> None:
    rig = Rig(sample_ns=0, start_ns=0)
    rig.fill(rig.es, BUY, 1, "5000.00", ts=1)
    for i, close in enumerate(("5000.25", "5000.50", "5000.75"), start=2):
        rig.bar(rig.es, close, ts=i)

    assert [ts for ts, _ in rig.portfolio.equity_curve] == [1, 2, 3, 4]
    assert rig.portfolio.equity_curve[-1][1] == usd("1000037.50").raw


def test_position_events_describe_the_position_after_the_fill() -> None:
    rig = Rig()
    rig.fill(rig.es, BUY, 2, "5000.00", "2.00")
    rig.fill(rig.es, BUY, 2, "5001.00", "2.00")

    changed = rig.events[0]
    assert isinstance(changed, PositionChanged)
    assert changed.strategy_id == "S-1"
    assert changed.instrument_id == rig.es.id
    assert changed.position_id == "P-ESZ4.CME-S-1-1"
    assert (changed.side, changed.quantity) == (PositionSide.LONG, Quantity.from_int(4))
    assert Decimal(changed.avg_px_open) == Decimal("5000.5")
    assert changed.realized_pnl == usd("-4.00")
    assert changed.last_px == Price.from_str("5001.00")


def test_a_duplicate_or_overfilling_fill_is_rejected_before_the_ledger_sees_it() -> None:
    # A venue that resends a fill (say after a reconnect) must not double the position or cash.
    from tradeloop.core import StrategyId
    from tradeloop.execution import ExecutionEngine
    from tradeloop.model import OrderAccepted, OrderSubmitted, SubmitOrder
    from tradeloop.testkit import make_fill

    rig = Rig()
    engine = ExecutionEngine(rig.bus, rig.clock, id_factory(9))
    strategy = StrategyId("S-dup")
    spec = engine.order_factory(strategy).market(rig.es.id, BUY, Quantity.from_int(2))
    common = {"correlation_id": "c", "ts_event": 1, "ts_init": 1, "instrument_id": rig.es.id}
    rig.bus.publish(SubmitOrder(id="cmd", strategy_id=strategy, order=spec, **common))
    ids = {"strategy_id": strategy, "client_order_id": spec.client_order_id, **common}
    rig.bus.publish(OrderSubmitted(id="s", account_id="SIM-001", **ids))  # type: ignore[arg-type]
    rig.bus.publish(OrderAccepted(id="a", venue_order_id="V-1", **ids))  # type: ignore[arg-type]
    fill = make_fill(
        rig.es,
        BUY,
        1,
        "5000.00",
        client_order_id=spec.client_order_id,
        strategy_id=strategy,
        trade_id="T-1",
        venue_order_id="V-1",
    )
    rig.bus.publish(fill)
    cash_after_one = rig.portfolio.cash()
    rig.bus.publish(fill)  # the same trade again, while the order is still partly filled

    assert rig.portfolio.net_position_raw(rig.es.id) == Quantity.from_int(1).raw
    assert rig.portfolio.cash() == cash_after_one
    assert rig.portfolio.fills == 1
    (failure,) = [m for m in rig.events if isinstance(m, HandlerFailed)]
    assert "already filled" in failure.error
