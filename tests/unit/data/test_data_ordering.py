"""Out-of-order rows: the loaders blame the fewest rows that put the rest in order."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core.errors import DataError
from tradeloop.data import load_trade_ticks
from tradeloop.model import FuturesContract

ES = FuturesContract("ES.CME")


def trades_csv(folder: Path, stamps: list[str]) -> Path:
    path = folder / "trades.csv"
    body = "".join(f"{stamp},1640.25,{k}\n" for k, stamp in enumerate(stamps, start=1))
    path.write_text("timestamp,price,size\n" + body, encoding="utf-8")
    return path


def seconds(*values: int) -> list[str]:
    return [f"2024-01-01T00:00:{v:02d}Z" for v in values]


def kept_sizes(path: Path) -> list[int]:
    """Which rows were loaded: each row's size is its 1-based data row number."""
    return [t.size.raw // 10**9 for t in load_trade_ticks(path, ES, on_error="skip").data]


FUTURE_TYPO = [*seconds(1), "2099-01-01T00:00:02Z", *seconds(3, 4, 5, 6, 7)]


def test_future_dated_row_is_the_only_row_skipped_when_the_rows_after_it_are_in_order(
    tmp_path: Path,
) -> None:
    path = trades_csv(tmp_path, FUTURE_TYPO)
    result = load_trade_ticks(path, ES, on_error="skip")
    assert result.skipped == {"out_of_order": 1}
    assert kept_sizes(path) == [1, 3, 4, 5, 6, 7]


def test_future_dated_row_is_named_as_jumping_ahead_when_raising(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, FUTURE_TYPO)
    with pytest.raises(DataError) as info:
        load_trade_ticks(path, ES)
    message = str(info.value)
    assert message.startswith(
        f"{path}: data row 2, column 'timestamp': out_of_order: "
        "timestamp jumps ahead to 2099-01-01T00:00:02.000000000Z"
    )
    assert "past 2024-01-01T00:00:03.000000000Z (1704067203000000000 ns) on data row 3" in message


def test_past_dated_row_is_named_as_earlier_than_the_row_before_it(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, [*seconds(1, 2, 3), "1990-01-01T00:00:04Z", *seconds(5, 6)])
    with pytest.raises(
        DataError,
        match=r"data row 4, column 'timestamp': out_of_order: timestamp 1990-01-01T00:00:04\.000000000Z "
        r"\(\d+ ns\) is earlier than 2024-01-01T00:00:03\.000000000Z \(\d+ ns\) on data row 3$",
    ):
        load_trade_ticks(path, ES)
    assert kept_sizes(path) == [1, 2, 3, 5, 6]


def test_consecutive_future_dated_rows_are_skipped_and_nothing_else(tmp_path: Path) -> None:
    stamps = [*seconds(1, 2), "2099-01-01T00:00:03Z", "2099-01-01T00:00:04Z", *seconds(5, 6, 7, 8)]
    path = trades_csv(tmp_path, stamps)
    assert kept_sizes(path) == [1, 2, 5, 6, 7, 8]
    with pytest.raises(DataError, match=r"data row 3, .*out_of_order: timestamp jumps ahead"):
        load_trade_ticks(path, ES)


def test_equal_timestamps_around_a_future_dated_row_are_kept(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, [*seconds(1, 1), "2099-01-01T00:00:00Z", *seconds(1, 2, 2)])
    assert kept_sizes(path) == [1, 2, 4, 5, 6]


def test_when_either_row_could_be_wrong_the_later_row_is_blamed(tmp_path: Path) -> None:
    # 00:00:09 then 00:00:05: nothing follows to tell which one is the slip.
    path = trades_csv(tmp_path, seconds(1, 9, 5))
    assert kept_sizes(path) == [1, 2]
    with pytest.raises(DataError, match=r"data row 3, .*is earlier than .* on data row 2$"):
        load_trade_ticks(path, ES)


def test_a_badly_shuffled_file_keeps_the_longest_ordered_selection(tmp_path: Path) -> None:
    # Pairs swapped throughout (1, 0, 3, 2, ...): one row of each pair has to go, and with
    # nothing to choose between them the earlier row of each pair stays.
    ns = [v for k in range(0, 2000, 2) for v in (k + 1, k)]
    path = tmp_path / "shuffled.csv"
    path.write_text("timestamp,price,size\n" + "".join(f"{v},1640.25,1\n" for v in ns), encoding="utf-8")
    result = load_trade_ticks(path, ES, epoch_unit="ns", on_error="skip")
    assert result.skipped == {"out_of_order": 1000}
    assert [t.ts_event for t in result.data] == list(range(1, 2000, 2))


def longest_in_order_rows(values: list[int]) -> list[int]:
    """Reference: 1-based rows of a longest non-decreasing selection, earliest rows first.

    Quadratic: the longest run starting at each row, then the earliest row that can still
    complete a longest run, step by step.
    """
    n = len(values)
    longest_from = [1] * n
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n):
            if values[j] >= values[i]:
                longest_from[i] = max(longest_from[i], longest_from[j] + 1)
    need = max(longest_from)
    rows: list[int] = []
    for j in range(n):
        if need and longest_from[j] == need and (not rows or values[j] >= values[rows[-1] - 1]):
            rows.append(j + 1)
            need -= 1
    return rows


@st.composite
def nearly_sorted(draw: st.DrawFn) -> list[int]:
    values = sorted(draw(st.lists(st.integers(0, 1_000), min_size=1, max_size=300)))
    for _ in range(draw(st.integers(0, 6))):
        values[draw(st.integers(0, len(values) - 1))] = draw(st.integers(-100, 1_100))
    return values


@settings(max_examples=80, deadline=None)
@given(
    values=st.one_of(
        nearly_sorted(),
        st.lists(st.integers(0, 40), min_size=1, max_size=300),
        st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=40),
    )
)
def test_skip_mode_keeps_a_longest_ordered_selection_of_rows_preferring_earlier_rows(
    values: list[int],
) -> None:
    expected = longest_in_order_rows(values)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        lines = "".join(f"{v},1640.25,{row}\n" for row, v in enumerate(values, start=1))
        path.write_text("timestamp,price,size\n" + lines, encoding="utf-8")
        result = load_trade_ticks(path, ES, epoch_unit="ns", on_error="skip")
        first_bad = next((row for row in range(1, len(values) + 1) if row not in set(expected)), None)
        if first_bad is None:
            load_trade_ticks(path, ES, epoch_unit="ns")
        else:
            with pytest.raises(DataError, match=rf"data row {first_bad}, column 'timestamp': out_of_order"):
                load_trade_ticks(path, ES, epoch_unit="ns")
    assert [t.size.raw // 10**9 for t in result.data] == expected
    dropped = len(values) - len(expected)
    assert result.skipped == ({"out_of_order": dropped} if dropped else {})
