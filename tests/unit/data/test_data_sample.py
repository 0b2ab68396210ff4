"""The packaged E-mini S&P 500 sample: complete, exact, in the source's order."""

from __future__ import annotations

from decimal import Decimal
from importlib.resources import files

import numpy as np
import pytest

from tradeloop.data import (
    SAMPLE_ROWS,
    aggregate_trades_to_bars,
    load_sample_bars,
    load_sample_trades,
    sample_instrument,
)
from tradeloop.model import BarSpec, TradeTick

T_FIRST = 1_378_054_800_083_000_000  # 2013-09-01 17:00:00.083, as written in the source
T_LAST = 1_378_216_304_578_000_000  # 2013-09-03 13:51:44.578
T_MIDDLE = 1_378_200_626_928_000_000  # 2013-09-03 09:30:26.928 (source row 250,001)


@pytest.fixture(scope="module")
def trades() -> list[TradeTick]:
    return load_sample_trades()


def row(t: TradeTick) -> tuple[int, str, int]:
    return (t.ts_event, str(t.price), t.size.raw // 10**9)


def test_sample_instrument_is_the_e_mini_contract() -> None:
    es = sample_instrument()
    assert (es.id, str(es.price_increment), es.multiplier, es.quote_currency) == ("ES.CME", "0.25", 50, "USD")


def test_sample_has_every_source_row(trades: list[TradeTick]) -> None:
    assert len(trades) == SAMPLE_ROWS == 500_000
    assert all(t.instrument_id == "ES.CME" and t.ts_init == t.ts_event for t in trades[:1000])


def test_first_and_last_rows_match_the_source_csv_in_order(trades: list[TradeTick]) -> None:
    # DateTime,Price,Volume lines 2-7 and the last four lines of mlfinpy's tick_data.csv.
    assert [row(t) for t in trades[:6]] == [
        (T_FIRST, "1640.25", 8),
        (T_FIRST, "1640.25", 1),
        (T_FIRST, "1640.25", 2),
        (T_FIRST, "1640.25", 1),
        (T_FIRST, "1640.25", 1),
        (T_FIRST, "1640.25", 12),
    ]
    assert [row(t) for t in trades[-4:]] == [
        (T_LAST - 6_000_000, "1631.25", 1),
        (T_LAST - 6_000_000, "1631.25", 5),
        (T_LAST - 6_000_000, "1631.25", 1),
        (T_LAST, "1631.25", 2),
    ]
    assert row(trades[250_000]) == (T_MIDDLE, "1645.00", 1)


def test_sample_totals_match_the_source_exactly(trades: list[TradeTick]) -> None:
    # Golden numbers computed from the source CSV with the csv module and Decimal.
    assert sum(t.size.raw for t in trades) // 10**9 == 1_844_058
    assert sum(t.price.as_decimal() for t in trades) == Decimal("820941784.00")
    notional = sum(t.price.raw * (t.size.raw // 10**9) for t in trades)
    assert Decimal(notional).scaleb(-9) == Decimal("3027450540.75")
    assert len({t.ts_event for t in trades}) == 84_568


def test_sample_is_in_time_order_and_on_the_tick_grid(trades: list[TradeTick]) -> None:
    ts = np.fromiter((t.ts_event for t in trades), np.int64, len(trades))
    assert bool(np.all(np.diff(ts) >= 0))
    tick = sample_instrument().price_increment.raw
    assert all(t.price.raw % tick == 0 and t.price.precision == 2 and t.size.raw > 0 for t in trades)


def test_sample_bars_equal_a_naive_grouping_of_the_sample_trades(trades: list[TradeTick]) -> None:
    bars = load_sample_bars()
    ts = np.fromiter((t.ts_event for t in trades), np.int64, len(trades))
    price = np.fromiter((t.price.raw for t in trades), np.int64, len(trades))
    size = np.fromiter((t.size.raw for t in trades), np.int64, len(trades))
    minute = 60 * 10**9
    keys, starts = np.unique(ts // minute, return_index=True)
    ends = np.append(starts[1:], len(ts))
    expected = [
        (
            int(k + 1) * minute,
            int(price[s]),
            int(price[s:e].max()),
            int(price[s:e].min()),
            int(price[e - 1]),
            int(size[s:e].sum()),
        )
        for k, s, e in zip(keys, starts, ends, strict=True)
    ]
    got = [(b.ts_event, b.open.raw, b.high.raw, b.low.raw, b.close.raw, b.volume.raw) for b in bars]
    assert got == expected
    assert bars[0].ts_event == T_FIRST - 83_000_000 + minute


def test_sample_bars_take_a_spec() -> None:
    five = load_sample_bars(BarSpec.parse("5-MINUTE"))
    assert {b.ts_event % (5 * 60 * 10**9) for b in five} == {0}
    assert sum(b.volume.raw for b in five) // 10**9 == 1_844_058
    assert five == aggregate_trades_to_bars(
        load_sample_trades(), sample_instrument(), BarSpec.parse("5-MINUTE")
    )


def test_sample_ships_with_the_mlfinpy_licence() -> None:
    text = files("tradeloop.sample_data").joinpath("LICENSE-mlfinpy.txt").read_text(encoding="utf-8")
    assert "MIT License" in text
    assert "mlfinpy 0.1.2" in text
    assert "Copyright (c) 2024, Robert Bach" in text
