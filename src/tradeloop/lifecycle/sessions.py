"""The market-close session calendar: how long until the next close of a market-close rule.

The calendar knows weekdays only: Monday to Friday in the rule's time zone are sessions that
close at the rule's time; exchange holidays and early closes are not known.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tradeloop.lifecycle.methods import MarketCloseRule

__all__ = ["SessionClose"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)


class SessionClose:
    """The next weekday close of a market-close rule, cached until it passes.

    Parameters
    ----------
    rule:
        The close time, its time zone and the lead before the close.

    Attributes
    ----------
    rule:
        The rule, as given.
    """

    __slots__ = ("_close", "_close_ns", "_from_ns", "_lead_ns", "_zone", "rule")

    def __init__(self, rule: MarketCloseRule) -> None:
        self.rule = rule
        hours, _, minutes = rule.time.partition(":")
        self._close = time(int(hours), int(minutes))
        self._zone = ZoneInfo(rule.timezone)
        self._lead_ns = int(rule.lead_seconds.scaleb(9))
        self._from_ns = 0
        self._close_ns = -1  # nothing cached yet

    def _next_close_ns(self, now_ns: int) -> int:
        """The first weekday close at or after ``now_ns`` (strictly after: a close at now is over)."""
        seconds = now_ns // 1_000_000_000
        local_day: date = datetime.fromtimestamp(seconds, tz=self._zone).date()
        for _ in range(8):
            if local_day.weekday() < 5:
                close = datetime.combine(local_day, self._close, tzinfo=self._zone)
                close_ns = (close - _EPOCH) // _ONE_MICROSECOND * 1_000
                if close_ns > now_ns:
                    return close_ns
            local_day += timedelta(days=1)
        raise AssertionError("a weekday close lies within eight days")  # pragma: no cover

    def ns_to_close(self, now_ns: int) -> int | None:
        """Nanoseconds to today's close when ``now_ns`` is within the lead before it, else ``None``."""
        if not self._from_ns <= now_ns < self._close_ns:
            self._from_ns = now_ns
            self._close_ns = self._next_close_ns(now_ns)
        left = self._close_ns - now_ns
        return left if left <= self._lead_ns else None
