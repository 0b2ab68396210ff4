"""Row checks for loaded market data: one verdict per row, raised or counted.

Every check works on whole columns (NumPy masks) and marks the rows it rejects with a reason
and a column; the first reason found for a row wins. At the end either the earliest bad row
in file order becomes a :class:`~tradeloop.core.errors.DataError` naming file, data row and
column, or all bad rows are dropped and counted per reason.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from tradeloop.core.errors import DataError

__all__ = [
    "CROSSED_QUOTE",
    "DUPLICATE",
    "INVALID_NUMBER",
    "INVALID_OHLC",
    "INVALID_TIMESTAMP",
    "MALFORMED",
    "MISSING",
    "NEGATIVE_SIZE",
    "NON_POSITIVE_PRICE",
    "OFF_GRID",
    "OUT_OF_ORDER",
    "OUT_OF_RANGE",
    "SKIP_REASONS",
    "OnError",
    "RowChecks",
]

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
OnError = Literal["raise", "skip"]

MALFORMED: Final = "malformed"
MISSING: Final = "missing"
INVALID_NUMBER: Final = "invalid_number"
INVALID_TIMESTAMP: Final = "invalid_timestamp"
NON_POSITIVE_PRICE: Final = "non_positive_price"
NEGATIVE_SIZE: Final = "negative_size"
OFF_GRID: Final = "off_grid"
OUT_OF_RANGE: Final = "out_of_range"
INVALID_OHLC: Final = "invalid_ohlc"
CROSSED_QUOTE: Final = "crossed_quote"
OUT_OF_ORDER: Final = "out_of_order"
DUPLICATE: Final = "duplicate"

SKIP_REASONS: Final = (
    MALFORMED,
    MISSING,
    INVALID_NUMBER,
    INVALID_TIMESTAMP,
    NON_POSITIVE_PRICE,
    NEGATIVE_SIZE,
    OFF_GRID,
    OUT_OF_RANGE,
    INVALID_OHLC,
    CROSSED_QUOTE,
    OUT_OF_ORDER,
    DUPLICATE,
)
"""Every key :attr:`LoadResult.skipped` can hold, in the order the checks run."""


def _iso(ns: int) -> str:
    return f"{np.datetime64(ns, 'ns')}Z ({ns} ns)"


_LOOP_MIN_RUNS: Final = 64
_LOOP_ROWS_PER_RUN: Final = 32
"""Sequences cut into more sorted runs than both of these allow take the plain loop: each run
costs a few NumPy calls (~20 us), which only pays while runs average 32 rows or more."""


def _in_order_lengths(x: I64) -> I64:
    """Length of the longest non-decreasing subsequence ending at each element of ``x``.

    Patience sorting, where ``tails[k]`` is the smallest last value of such a subsequence of
    length ``k + 1``, taken one sorted run at a time. Within a run, element ``j`` lands at
    ``pos[j] = max(pos[j - 1] + 1, bisect_right(tails, x[j]))`` against the tails from before
    the run (the slots earlier elements of the run took hold values no greater than
    ``x[j]``), which is a running maximum of ``bisect_right(...) - j``. Market data is
    sorted but for a few slips, so the work is a handful of vectorised calls per slip.
    """
    n = x.size
    starts = np.flatnonzero(x[1:] < x[:-1]) + 1
    runs = starts.size + 1
    if runs > _LOOP_MIN_RUNS and runs * _LOOP_ROWS_PER_RUN > n:
        return _in_order_lengths_loop(x)
    tails = np.empty(n, x.dtype)
    size = 0
    out = np.empty(n, np.int64)
    for a, b in itertools.pairwise([0, *starts.tolist(), n]):
        run = x[a:b]
        step = np.arange(b - a)
        pos = np.maximum.accumulate(np.searchsorted(tails[:size], run, side="right") - step) + step
        tails[pos] = run
        size = max(size, int(pos[-1]) + 1)
        out[a:b] = pos + 1
    return out


def _in_order_lengths_loop(x: I64) -> I64:
    """:func:`_in_order_lengths` one element at a time, for badly shuffled sequences."""
    tails: list[int] = []
    out: list[int] = []
    for value in x.tolist():
        k = bisect.bisect_right(tails, value)
        if k == len(tails):
            tails.append(value)
        else:
            tails[k] = value
        out.append(k + 1)
    return np.array(out, np.int64)


def _longest_in_order(x: I64) -> Bools:
    """Mask of a longest non-decreasing subsequence of ``x``, preferring earlier elements.

    An element lies on some longest subsequence when the longest one ending at it and the
    longest one starting at it add up to the maximum; its level is its position in that
    subsequence. Taking the first such element of every level yields a valid subsequence
    (elements of one level decrease in value as their index grows, so the first of a level
    is never below the first of the level before) and, of all the longest ones, the one
    whose indices are smallest, element by element.
    """
    ending = _in_order_lengths(x)
    # ~x reverses the order without overflow; reading it backwards gives, per element, the
    # longest non-decreasing subsequence of x that starts there.
    starting = _in_order_lengths(np.invert(x[::-1]))[::-1]
    on_longest = np.flatnonzero(ending + starting - 1 == ending.max())
    _, first = np.unique(ending[on_longest], return_index=True)
    keep = np.zeros(x.size, np.bool_)
    keep[on_longest[first]] = True
    return keep


@dataclass(frozen=True, slots=True)
class _Finding:
    reason: str
    column: str
    describe: Callable[[int], str]
    """Detail for the row at this index; runs only when an error is raised."""


class RowChecks:
    """Collects per-row verdicts for one file.

    Parameters
    ----------
    source:
        The file name used in messages.
    rows:
        Number of data rows that were parsed into columns.
    row_numbers:
        1-based data row of each parsed row; ``None`` when they are simply ``1..rows`` (it
        differs when malformed CSV lines were dropped while reading).
    malformed:
        ``(data_row, text)`` of lines that could not be split into the right fields.
    """

    __slots__ = ("_code", "_findings", "_malformed", "_row_numbers", "rows", "source")

    def __init__(
        self,
        source: str,
        rows: int,
        row_numbers: I64 | None = None,
        malformed: Sequence[tuple[int, str]] = (),
    ) -> None:
        self.source = source
        self.rows = rows
        self._row_numbers = row_numbers
        self._malformed = list(malformed)
        self._code = np.zeros(rows, np.uint16)
        self._findings: list[_Finding] = []

    @property
    def ok(self) -> Bools:
        """Rows no check has rejected so far."""
        return np.asarray(self._code == 0, dtype=np.bool_)

    def row_number(self, index: int) -> int:
        """The 1-based data row of parsed row ``index``."""
        if self._row_numbers is None:
            return index + 1
        return int(self._row_numbers[index])

    def flag(self, mask: Bools, reason: str, column: str, describe: Callable[[int], str]) -> None:
        """Reject the rows in ``mask`` that no earlier check rejected."""
        fresh = mask & (self._code == 0)
        if not fresh.any():
            return
        self._findings.append(_Finding(reason, column, describe))
        self._code[fresh] = len(self._findings)

    def check_order(self, ts: I64, column: str) -> None:
        """Flag the fewest rows whose removal leaves the timestamps non-decreasing.

        The rows kept form a longest non-decreasing subsequence, so one mistyped timestamp
        costs one row whichever way it is wrong: a row dated in the future is blamed for
        jumping ahead, not every row after it for being late. Where several choices are
        equally long (``5, 4`` could be either row's fault) earlier rows are kept and the
        later one is blamed. Equal timestamps are in order (they keep file order). Only rows
        that passed the other checks take part, so a skipped row neither hides nor causes an
        ordering error. Sorted input costs one vectorised comparison.
        """
        idx = np.flatnonzero(self.ok)
        if idx.size < 2:
            return
        kept = ts[idx]
        if not (kept[1:] < kept[:-1]).any():
            return
        in_order = _longest_in_order(kept)
        mask = np.zeros(self.rows, np.bool_)
        mask[idx[~in_order]] = True
        anchors = idx[in_order]

        def describe(i: int) -> str:
            at = int(np.searchsorted(anchors, i))
            if at > 0 and ts[i] < ts[anchors[at - 1]]:
                before = int(anchors[at - 1])
                return (
                    f"timestamp {_iso(int(ts[i]))} is earlier than {_iso(int(ts[before]))} "
                    f"on data row {self.row_number(before)}"
                )
            after = int(anchors[at])
            return (
                f"timestamp jumps ahead to {_iso(int(ts[i]))}, past {_iso(int(ts[after]))} "
                f"on data row {self.row_number(after)} after it"
            )

        self.flag(mask, OUT_OF_ORDER, column, describe)

    def check_duplicates(self, ts: I64, fields: Sequence[I64], column: str) -> None:
        """Flag rows equal in timestamp and every field to an earlier accepted row."""
        ok = self.ok
        idx = np.flatnonzero(ok)
        if idx.size < 2:
            return
        kept_ts = ts[idx]
        # Rows are in time order here, so duplicates share a run of equal timestamps: only
        # rows inside such runs are candidates, which is usually a tiny fraction.
        same = kept_ts[1:] == kept_ts[:-1]
        if not same.any():
            return
        cand = np.zeros(idx.size, np.bool_)
        cand[1:] |= same
        cand[:-1] |= same
        rows = idx[cand]
        table = np.stack([ts[rows], *(f[rows] for f in fields)], axis=1)
        first_seen: dict[tuple[int, ...], int] = {}
        dup_of = np.full(self.rows, -1, np.int64)
        for row, key in zip(rows.tolist(), map(tuple, table.tolist()), strict=True):
            first = first_seen.setdefault(key, row)
            if first != row:
                dup_of[row] = first
        mask = dup_of >= 0
        if not mask.any():
            return

        def describe(i: int) -> str:
            return f"exact duplicate of data row {self.row_number(int(dup_of[i]))}"

        self.flag(mask, DUPLICATE, column, describe)

    def finish(self, on_error: OnError) -> tuple[Bools, dict[str, int]]:
        """Raise for the earliest bad row, or return the rows to keep and the skip counts."""
        code = self._code
        bad = np.flatnonzero(code)
        if on_error == "raise" and (bad.size or self._malformed):
            self._raise_first(bad)
        skipped: dict[str, int] = {}
        if self._malformed:
            skipped[MALFORMED] = len(self._malformed)
        if bad.size:
            counts = np.bincount(code[bad], minlength=len(self._findings) + 1)
            for k, finding in enumerate(self._findings, start=1):
                if counts[k]:
                    skipped[finding.reason] = skipped.get(finding.reason, 0) + int(counts[k])
        order = {reason: i for i, reason in enumerate(SKIP_REASONS)}
        skipped = dict(sorted(skipped.items(), key=lambda kv: order.get(kv[0], len(order))))
        return np.asarray(code == 0, dtype=np.bool_), skipped

    def _raise_first(self, bad: I64) -> None:
        first_row = None
        message = ""
        if bad.size:
            i = int(bad[0])
            finding = self._findings[int(self._code[i]) - 1]
            first_row = self.row_number(i)
            message = (
                f"{self.source}: data row {first_row}, column {finding.column!r}: "
                f"{finding.reason}: {finding.describe(i)}"
            )
        for row, text in self._malformed:
            if first_row is None or row < first_row:
                first_row = row
                message = (
                    f"{self.source}: data row {row}: {MALFORMED}: line {text!r} does not have "
                    "the header's number of fields"
                )
        raise DataError(message)
