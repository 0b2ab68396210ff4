"""A portfolio fed only quotes: the mid marks positions, rolls the UTC day and samples equity."""

from __future__ import annotations

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.ids import AccountId
from tradeloop.model.account import Account
from tradeloop.model.enums import OrderSide
from tradeloop.model.objects import Money, Price
from tradeloop.portfolio import Portfolio
from tradeloop.testkit import TestClock, es_future, id_factory, make_bar, make_fill, make_quote

SEC = NANOS_PER_SECOND
MINUTE = 60 * SEC
DAY = 86_400 * SEC
LATE = 19_700 * DAY + 23 * 3_600 * SEC  # 23:00 UTC
ES = es_future()  # 50 USD a point


def usd(text: str) -> Money:
    return Money.from_str(text, "USD")


class QuoteRig:
    def __init__(self, *, start_ns: int, sample_ns: int = MINUTE) -> None:
        self.clock = TestClock(start_ns)
        self.bus = MessageBus(self.clock, id_factory(1))
        self.portfolio = Portfolio(
            self.bus,
            self.clock,
            id_factory(2),
            Account(AccountId("SIM-001"), usd("1000000")),
            [ES],
            equity_sample_ns=sample_ns,
        )
        self._ids = id_factory(3)

    def buy_one(self, price: str, ts: int) -> None:
        self.clock.set_time(ts)
        self.bus.publish(make_fill(ES, OrderSide.BUY, 1, price, commission=usd("0"), ts_ns=ts, ids=self._ids))

    def quote(self, bid: str, ask: str, ts: int) -> None:
        self.clock.set_time(ts)
        self.bus.publish(make_quote(ES, bid, ask, ts_ns=ts))


def test_daily_pnl_baseline_resets_at_the_first_quote_of_a_new_utc_day() -> None:
    rig = QuoteRig(start_ns=LATE)
    p = rig.portfolio
    rig.buy_one("5000.00", LATE)
    rig.quote("5009.75", "5010.25", LATE + 30 * MINUTE)  # mid 5010.00
    assert p.daily_pnl_raw() == usd("500").raw

    rig.quote("5009.75", "5010.25", 19_701 * DAY)  # exactly midnight: the new day's first quote
    assert p.day_start_equity_raw == usd("1000500").raw
    assert p.daily_pnl_raw() == 0

    rig.quote("4999.75", "5000.25", 19_701 * DAY + MINUTE)
    assert p.daily_pnl_raw() == usd("-500").raw
    assert p.day_start_equity_raw == usd("1000500").raw  # later quotes of the day keep it


def test_a_gap_to_the_first_quote_of_the_day_counts_in_the_new_day() -> None:
    rig = QuoteRig(start_ns=LATE)
    p = rig.portfolio
    rig.buy_one("5000.00", LATE)
    rig.quote("5009.75", "5010.25", LATE + 59 * MINUTE)  # the day's last mid: 5010.00

    rig.quote("4909.75", "4910.25", 19_701 * DAY + MINUTE)  # opens 100 points lower

    assert p.day_start_equity_raw == usd("1000500").raw
    assert p.daily_pnl_raw() == usd("-5000").raw


def test_the_equity_curve_samples_on_quotes_at_the_interval() -> None:
    rig = QuoteRig(start_ns=0, sample_ns=MINUTE)
    rig.buy_one("5000.00", 30 * SEC)  # a fill is always a point
    for t, mid_bid, mid_ask in (
        (60, "5000.75", "5001.25"),
        (90, "5001.75", "5002.25"),
        (120, "5002.75", "5003.25"),
        (150, "5003.75", "5004.25"),
        (200, "5004.75", "5005.25"),
    ):
        rig.quote(mid_bid, mid_ask, t * SEC)

    curve = rig.portfolio.equity_curve
    # After the fill at 30 s the next point is due at 90 s, then 150 s: quotes at 60 and 120 s
    # fall between samples.
    assert [ts // SEC for ts, _ in curve] == [30, 90, 150]
    assert [Money(raw, "USD") for _, raw in curve] == [usd("1000000"), usd("1000100"), usd("1000200")]


def test_the_equity_curve_samples_a_quote_landing_exactly_on_the_interval() -> None:
    rig = QuoteRig(start_ns=0, sample_ns=MINUTE)
    for t in (60, 90, 120, 179, 180):
        rig.quote("5000.00", "5000.50", t * SEC)

    assert [ts // SEC for ts, _ in rig.portfolio.equity_curve] == [60, 120, 180]


def test_a_bar_closing_at_a_quotes_time_does_not_override_the_quote_mark() -> None:
    rig = QuoteRig(start_ns=0)
    rig.buy_one("5000.00", MINUTE - SEC)
    rig.quote("5009.75", "5010.25", MINUTE)
    # The bar holds trades before its close time only: the quote at that time is newer.
    rig.bus.publish(make_bar(ES, "5000.00", "5001.00", "4999.00", "5000.00", ts_ns=MINUTE))

    assert rig.portfolio.last_price(ES.id) == Price.from_str("5010.00")
    assert rig.portfolio.equity() == usd("1000500")
