"""Drawdowns of an equity curve: the largest peak-to-trough drop and the longest time under water.

A *peak* is a point whose equity is at least every earlier equity. When equity touches its
running peak again the drawdown has recovered, and the next drop starts from that later
time. The maximum drawdown is the largest absolute drop ``peak - trough`` (exact, in money);
ties keep the earliest trough. The maximum drawdown *fraction* is the largest drop relative to
its running peak, the deepest point of the underwater chart. The two can be different
episodes: a 10% fall early in a run can be fewer dollars than a 6% fall after the account
has grown, and reporting each as its own maximum keeps both honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from tradeloop.analysis.exact import EXACT
from tradeloop.analysis.records import EquityPoint
from tradeloop.core.errors import DataError

__all__ = ["Drawdown", "check_time_order", "max_drawdown", "underwater"]


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The largest drawdown of a curve and the longest underwater spell.

    ``amount`` is the largest ``peak - trough`` (zero when equity never fell), from
    ``peak_equity`` at ``peak_ns`` to ``trough_ns`` (``None`` without a drop). ``fraction`` is
    the largest ``(peak - equity) / peak`` over the curve, possibly another episode: ``0.0``
    without a drop, ``None`` when equity only fell below a running peak that was not positive.
    ``longest_ns`` is the longest time from a peak to the first point back at or above it, or
    to the curve's last point when equity never recovered.
    """

    amount: Decimal
    fraction: float | None
    peak_equity: Decimal | None
    peak_ns: int | None
    trough_ns: int | None
    longest_ns: int


def check_time_order(points: Sequence[EquityPoint]) -> None:
    """Raise ``DataError`` naming the first point whose timestamp goes back in time."""
    previous: int | None = None
    for index, point in enumerate(points):
        if previous is not None and point.ts_ns < previous:
            raise DataError(
                f"equity point {index} at ts_ns={point.ts_ns} is earlier than the point before "
                f"it (ts_ns={previous}); the equity curve must be in time order"
            )
        previous = point.ts_ns


def max_drawdown(points: Sequence[EquityPoint]) -> Drawdown:
    """Largest peak-to-trough drop and longest underwater spell of ``points`` (time-ordered).

    One pass, exact ``Decimal`` arithmetic. Raises ``DataError`` when the points are not in
    time order.
    """
    check_time_order(points)
    with localcontext(EXACT):
        return _max_drawdown(points)


def _max_drawdown(points: Sequence[EquityPoint]) -> Drawdown:
    if not points:
        return Drawdown(Decimal(0), 0.0, None, None, None, 0)
    first = points[0]
    peak = first.equity
    peak_ns = first.ts_ns
    best = Decimal(0)
    best_peak: Decimal | None = None
    best_peak_ns: int | None = None
    best_trough_ns: int | None = None
    # Largest relative drop as an exact pair, compared by cross-multiplication (no division
    # per point): rel_drop / rel_peak.
    rel_drop, rel_peak = Decimal(0), Decimal(1)
    fell_only_from_non_positive = False
    under_since: int | None = None
    longest = 0
    for point in points:
        equity = point.equity
        if equity >= peak:
            if under_since is not None:
                longest = max(longest, point.ts_ns - under_since)
                under_since = None
            peak = equity
            peak_ns = point.ts_ns
            continue
        if under_since is None:
            under_since = peak_ns
        drop = peak - equity
        if drop > best:
            best = drop
            best_peak = peak
            best_peak_ns = peak_ns
            best_trough_ns = point.ts_ns
        if peak > 0:
            if drop * rel_peak > rel_drop * peak:
                rel_drop, rel_peak = drop, peak
        elif not rel_drop:
            fell_only_from_non_positive = True
    if under_since is not None:
        longest = max(longest, points[-1].ts_ns - under_since)
    fraction: float | None = round(float(rel_drop / rel_peak), 6)
    if fell_only_from_non_positive and not rel_drop:
        fraction = None
    return Drawdown(best, fraction, best_peak, best_peak_ns, best_trough_ns, longest)


def underwater(values: Sequence[float]) -> list[float]:
    """Fractional distance below the running peak of each value (``0.0`` at a peak, else < 0).

    Floats: this feeds charts, not the ledger. Where the running peak is not positive the
    fraction is undefined and reported as ``0.0``.
    """
    out: list[float] = []
    append = out.append
    peak = float("-inf")
    for value in values:
        if value > peak:
            peak = value
        append(value / peak - 1.0 if peak > 0.0 else 0.0)
    return out
