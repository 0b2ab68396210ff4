"""Trading authorisation: blocks per instrument, the blackout calendar, and entry_problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.ids import InstrumentId
from tradeloop.data.synthetic import generate_bars
from tradeloop.model.data import Bar
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderDenied, OrderEvent
from tradeloop.model.instruments import Equity
from tradeloop.model.objects import Money, Quantity
from tradeloop.risk import (
    BlackoutWindow,
    RiskConfig,
    TradingAuthorized,
    TradingBlock,
    TradingBlocked,
    TradingState,
    load_blackout_calendar,
)
from tradeloop.risk.events import OrderModifyDenied
from tradeloop.runtime import BacktestEngine
from tradeloop.strategy import Strategy, StrategyConfig
from tradeloop.venues.simulated import SimulatedVenueConfig

from .rig import BUY, SELL, START_NS, Rig

START = datetime.fromtimestamp(START_NS // 10**9, UTC)  # the rig's clock starts here
HOUR_NS = 3_600 * 10**9


def at(hours: float) -> str:
    """An ISO-8601 time ``hours`` after the rig's start."""
    return (START + timedelta(hours=hours)).isoformat()


def write_csv(tmp_path: Path, *rows: str, header: str = "instrument,start,end,reason") -> Path:
    path = tmp_path / "blackouts.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def blackout_rig(path: Path, **config: object) -> Rig:
    return Rig(RiskConfig.model_validate({"blackout_calendar": path, **config}))


# -- the calendar on the clock ---------------------------------------------------------------


def test_blackout_window_blocks_at_its_start_and_authorises_at_its_end_on_the_simulated_clock(
    tmp_path: Path,
) -> None:
    rig = blackout_rig(write_csv(tmp_path, f"AAPL.XNAS,{at(1)},{at(2)},earnings call"))
    rig.hold(rig.aapl, BUY, "100", "100.00")
    assert rig.of(TradingBlocked) == []

    rig.advance(3_600)

    [blocked] = rig.of(TradingBlocked)
    assert (blocked.instrument_id, blocked.source, blocked.reason) == (
        "AAPL.XNAS",
        "blackout",
        "earnings call",
    )
    assert blocked.ts_event == START_NS + HOUR_NS
    rig.trade(rig.aapl, "100.00")
    rig.trade(rig.es, "5000.00")
    entry = rig.market(rig.aapl, BUY, "10")
    exit_order = rig.market(rig.aapl, SELL, "50")
    other = rig.market(rig.es, BUY, "1")
    assert rig.denials() == ["trading_authorisation: AAPL.XNAS blocked (blackout: earnings call)"]
    assert not rig.reached_venue(entry)
    assert rig.reached_venue(exit_order)
    assert rig.reached_venue(other)
    assert rig.state is TradingState.ACTIVE
    assert rig.risk.entry_problem(rig.aapl.id, BUY) == (
        "trading_authorisation: AAPL.XNAS blocked (blackout: earnings call)"
    )

    rig.advance(3_600)

    [authorized] = rig.of(TradingAuthorized)
    assert (authorized.instrument_id, authorized.source, authorized.blocked_by) == (
        "AAPL.XNAS",
        "blackout",
        (),
    )
    assert authorized.reason == "blackout over: earnings call"
    assert authorized.ts_event == START_NS + 2 * HOUR_NS
    assert rig.reached_venue(rig.market(rig.aapl, BUY, "10"))
    assert rig.risk.denied_by_check() == {"trading_authorisation": 1}


def test_overlapping_blocks_keep_an_instrument_blocked_until_the_last_one_ends(tmp_path: Path) -> None:
    rig = blackout_rig(
        write_csv(
            tmp_path,
            f"AAPL.XNAS,{at(1)},{at(3)},earnings",
            f"*,{at(2)},{at(4)},exchange holiday",
        )
    )
    rig.trade(rig.aapl, "100.00")

    rig.advance(2 * 3_600)
    assert rig.risk.authorisation.blocked_reasons(rig.aapl.id) == [
        "blackout: earnings",
        "blackout: exchange holiday",
    ]
    assert rig.risk.authorisation.blocked_reasons(rig.es.id) == ["blackout: exchange holiday"]
    assert rig.risk.authorisation.blocks() == [
        TradingBlock(InstrumentId("AAPL.XNAS"), "blackout", "earnings"),
        TradingBlock(None, "blackout", "exchange holiday"),
    ]

    rig.advance(3_600)  # the earnings window ends; the holiday goes on
    [first] = rig.of(TradingAuthorized)
    assert (first.instrument_id, first.blocked_by) == ("AAPL.XNAS", ("blackout",))
    denied = rig.market(rig.aapl, BUY, "1")
    assert rig.status(denied) == "DENIED"
    assert rig.denials() == ["trading_authorisation: AAPL.XNAS blocked (blackout: exchange holiday)"]

    rig.advance(3_600)
    assert rig.of(TradingAuthorized)[-1].blocked_by == ()
    assert rig.reached_venue(rig.market(rig.aapl, BUY, "1"))


def test_a_window_already_open_blocks_at_once_and_one_already_over_is_ignored(tmp_path: Path) -> None:
    rig = blackout_rig(
        write_csv(
            tmp_path,
            f"AAPL.XNAS,{at(-2)},{at(-1)},yesterday's news",
            f"AAPL.XNAS,{at(-1)},{at(1)},trading halt",
        )
    )

    [blocked] = rig.of(TradingBlocked)
    assert blocked.reason == "trading halt"
    assert rig.clock.timer_names == ["risk.blackout.1:2.end"]


def test_a_yaml_calendar_with_a_window_for_every_instrument(tmp_path: Path) -> None:
    path = tmp_path / "blackouts.yaml"
    path.write_text(
        f"blackouts:\n  - instrument: '*'\n    start: {at(1)}\n    end: {at(2)}\n    reason: FOMC\n",
        encoding="utf-8",
    )
    rig = blackout_rig(path)
    rig.trade(rig.es, "5000.00")

    rig.advance(3_600)
    rig.market(rig.es, BUY, "1")

    [blocked] = rig.of(TradingBlocked)
    assert (blocked.instrument_id, blocked.source) == (None, "blackout")
    assert rig.denials() == ["trading_authorisation: ESZ4.CME blocked (blackout: FOMC)"]


def test_modify_raising_the_quantity_of_an_entry_on_a_blocked_instrument_is_denied(tmp_path: Path) -> None:
    rig = blackout_rig(write_csv(tmp_path, f"AAPL.XNAS,{at(1)},{at(2)},earnings"))
    rig.trade(rig.aapl, "100.00")
    entry = rig.limit(rig.aapl, BUY, "10", "99.00")
    rig.advance(3_600)

    rig.modify_qty(entry, "20")
    rig.modify_qty(entry, "5")

    [denied] = rig.of(OrderModifyDenied)
    assert denied.reason == (
        f"trading_authorisation: AAPL.XNAS blocked (blackout: earnings); raising the quantity of "
        f"{entry.order.client_order_id} is refused"
    )
    assert [m.quantity.as_decimal() for m in rig.venues["XNAS"].modified] == [5]  # type: ignore[union-attr]


def test_update_config_replaces_the_calendar_and_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    first = write_csv(tmp_path, f"AAPL.XNAS,{at(-1)},{at(5)},earnings")
    rig = blackout_rig(first)
    assert rig.risk.authorisation.is_blocked(rig.aapl.id)

    bad = tmp_path / "bad.csv"
    bad.write_text("instrument,start,end,reason\nAAPL.XNAS,yesterday,today,oops\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.csv: row 1"):
        rig.risk.update_config(RiskConfig(blackout_calendar=bad))
    assert rig.risk.config.blackout_calendar == first
    assert rig.risk.authorisation.is_blocked(rig.aapl.id)

    second = tmp_path / "second.csv"
    second.write_text(f"instrument,start,end,reason\nESZ4.CME,{at(1)},{at(2)},roll\n", encoding="utf-8")
    rig.risk.update_config(RiskConfig(blackout_calendar=second))

    assert not rig.risk.authorisation.is_blocked(rig.aapl.id)
    assert rig.of(TradingAuthorized)[-1].reason == "blackout calendar replaced"
    rig.advance(3_600)
    assert rig.risk.authorisation.is_blocked(rig.es.id)

    rig.risk.update_config(RiskConfig())
    assert rig.risk.authorisation.blocks() == []
    assert rig.clock.timer_names == []


# -- the calendar file -----------------------------------------------------------------------


def test_calendar_rows_are_read_in_order_with_times_in_any_zone(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "AAPL.XNAS,2024-03-20T14:00:00-04:00,2024-03-20T19:00:00Z,FOMC",
        "*, 2024-12-25T00:00:00+00:00 , 2024-12-26T00:00:00+00:00 , Christmas",
    )

    def ns(*parts: int) -> int:
        return int(datetime(*parts, tzinfo=UTC).timestamp()) * 10**9

    assert load_blackout_calendar(path) == [
        BlackoutWindow(InstrumentId("AAPL.XNAS"), ns(2024, 3, 20, 18), ns(2024, 3, 20, 19), "FOMC"),
        BlackoutWindow(None, ns(2024, 12, 25), ns(2024, 12, 26), "Christmas"),
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ["AAPL.XNAS,2024-03-20T14:00:00,2024-03-20T15:00:00Z,FOMC"],
            r"row 1 \(line 2\): start 2024-03-20T14:00:00 has no time zone",
        ),
        (
            ["AAPL.XNAS,2024-03-20T15:00:00Z,2024-03-20T14:00:00Z,FOMC"],
            r"row 1 \(line 2\): end .* is not after start",
        ),
        (
            ["AAPL,2024-03-20T14:00:00Z,2024-03-20T15:00:00Z,FOMC"],
            r"row 1 \(line 2\): invalid instrument id 'AAPL'",
        ),
        (
            ["*,2024-03-20T14:00:00Z,2024-03-20T15:00:00Z,ok", "AAPL.XNAS,2024-03-20T14:00:00Z,soon,FOMC"],
            r"row 2 \(line 3\): end 'soon' is not an ISO-8601 date-time",
        ),
        (["AAPL.XNAS,2024-03-20T14:00:00Z,2024-03-20T15:00:00Z,"], r"row 1 \(line 2\): missing reason"),
        (["AAPL.XNAS,2024-03-20T14:00:00Z,2024-03-20T15:00:00Z,FOMC,extra"], r"row 1 \(line 2\): more cells"),
    ],
)
def test_bad_csv_rows_are_reported_with_the_file_and_row(
    tmp_path: Path, rows: list[str], message: str
) -> None:
    path = write_csv(tmp_path, *rows)

    with pytest.raises(ConfigError, match=rf"blackouts\.csv: {message}"):
        load_blackout_calendar(path)


def test_csv_header_must_name_the_columns(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "AAPL.XNAS,2024-03-20T14:00:00Z,2024-03-20T15:00:00Z,FOMC", header="symbol,from,to,why"
    )

    with pytest.raises(
        ConfigError, match=r"blackouts\.csv: the header must name the columns instrument,start,end,reason"
    ):
        load_blackout_calendar(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "blackouts:\n  - instrument: AAPL.XNAS\n    start: 2024-03-20\n"
            "    end: 2024-03-21\n    reason: x\n",
            "row 1: start 2024-03-20 has no time of day",
        ),
        (
            "blackouts:\n  - instrument: AAPL.XNAS\n    from: 2024-03-20T14:00:00Z\n",
            "row 1: missing start, end, reason",
        ),
        ("blackouts:\n  - AAPL.XNAS\n", "row 1: a window must be a mapping"),
        ("windows: []\n", "unknown key windows"),
        ("blackouts: AAPL.XNAS\n", "'blackouts' must be a list"),
        (
            "blackouts:\n  - instrument: AAPL.XNAS\n    start: 2024-03-20T14:00:00Z\n"
            "    end: 2024-03-20T15:00:00Z\n    reason: x\n    venue: XNAS\n",
            "row 1: unknown field venue",
        ),
    ],
)
def test_bad_yaml_calendars_are_reported_with_the_file_and_row(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "blackouts.yml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError) as info:
        load_blackout_calendar(path)

    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_missing_or_unsupported_calendar_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.csv: blackout calendar not found"):
        load_blackout_calendar(tmp_path / "nowhere.csv")
    with pytest.raises(
        ConfigError, match=r"calendar\.txt: a blackout calendar must be a \.csv, \.yaml or \.yml file"
    ):
        load_blackout_calendar(tmp_path / "calendar.txt")
    with pytest.raises(ConfigError, match=r"nowhere\.csv"):
        Rig(RiskConfig(blackout_calendar=tmp_path / "nowhere.csv"))


# -- blocks placed by code -------------------------------------------------------------------


def test_the_same_block_twice_publishes_once_and_lifting_an_unknown_block_does_nothing() -> None:
    rig = Rig(breakers=False)
    auth = rig.risk.authorisation

    assert auth.block(rig.aapl.id, "desk", "position review") is True
    assert auth.block(rig.aapl.id, "desk", "position review again") is False
    assert auth.lift(rig.es.id, "desk", "not blocked") is False
    assert len(rig.of(TradingBlocked)) == 1
    assert auth.lift(rig.aapl.id, "desk", "review done") is True
    assert rig.of(TradingAuthorized)[-1].blocked_by == ()
    with pytest.raises(TradeloopError, match="needs a source and a reason"):
        auth.block(None, "", "why")


# -- entry_problem ---------------------------------------------------------------------------


def test_entry_problem_answers_each_reason_an_entry_would_be_refused() -> None:
    rig = Rig(RiskConfig(max_position_quantity=100, max_daily_loss=1_000), breakers=False)
    assert rig.risk.entry_problem(rig.aapl.id, BUY) is None

    rig.hold(rig.aapl, BUY, "60", "100.00")
    rig.limit(rig.aapl, BUY, "40", "99.00")
    assert rig.risk.entry_problem(rig.aapl.id, BUY) == (
        "max_position_quantity: net position 60 with 40 more working is already at the limit 100 on AAPL.XNAS"
    )
    assert rig.risk.entry_problem(rig.aapl.id, SELL) is None  # that side reduces

    rig.trade(rig.aapl, "80.00")  # a loss of 1,200 today: the next order would move to REDUCING
    assert rig.risk.entry_problem(rig.es.id, BUY) == (
        "max_daily_loss: daily loss 1200.00 USD reached the limit 1000.00 USD"
    )
    assert rig.state is TradingState.ACTIVE  # asking changes nothing
    assert rig.of(TradingBlocked) == []

    rig.risk.set_trading_state(TradingState.HALTED, "maintenance")
    assert rig.risk.entry_problem(rig.es.id, BUY) == "trading_state: HALTED (maintenance); no new positions"


# -- in a backtest ---------------------------------------------------------------------------


class BuyEveryBar(Strategy):
    """Buys one share on every bar and records the bars its orders were denied on."""

    def __init__(self) -> None:
        super().__init__(StrategyConfig())
        self.denied: list[tuple[int, str]] = []

    def on_start(self) -> None:
        self.subscribe_bars("ABC.SIM", "1-MINUTE")

    def on_bar(self, bar: Bar) -> None:
        self.submit_order(self.order_factory.market(bar.instrument_id, OrderSide.BUY, Quantity.from_int(1)))

    def on_order_event(self, event: OrderEvent) -> None:
        if isinstance(event, OrderDenied):
            self.denied.append((event.ts_event, event.reason))


def test_blackout_calendar_follows_the_simulated_clock_of_a_backtest(tmp_path: Path) -> None:
    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    start_ns = int(t0.timestamp()) * 10**9
    minute_ns = 60 * 10**9
    path = write_csv(
        tmp_path,
        f"ABC.SIM,{(t0 + timedelta(minutes=10)).isoformat()},{(t0 + timedelta(minutes=20)).isoformat()},halt",
    )
    instrument = Equity("ABC.SIM")
    engine = BacktestEngine(seed=1, risk=RiskConfig(blackout_calendar=path))
    engine.add_instrument(instrument)
    engine.add_venue("SIM", SimulatedVenueConfig(starting_balances=Money.from_str("100000", "USD")))
    engine.add_data(generate_bars(instrument, 30, start_ns=start_ns, seed=2, start_price="100"))
    strategy = BuyEveryBar()
    engine.add_strategy(strategy)

    result = engine.run()

    # Bars close at minutes 1..30; the window [10, 20) denies the orders of bars 10 to 19.
    assert [ts for ts, _ in strategy.denied] == [start_ns + m * minute_ns for m in range(10, 20)]
    assert {reason for _, reason in strategy.denied} == {
        "trading_authorisation: ABC.SIM blocked (blackout: halt)"
    }
    assert result.fills == 19  # 20 approved; the last bar's order has no next bar to fill at
