"""Display formats shared by the statistics table, the CSV files and the HTML report.

All of them are pure functions of their input (no locale, no local time zone), so a report is
byte-identical wherever it is written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from tradeloop.analysis.exact import plain

__all__ = [
    "format_duration",
    "format_money",
    "format_percent",
    "format_ratio",
    "iso_utc",
    "utc_datetime",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NANOS_PER_SECOND = 1_000_000_000


def utc_datetime(ts_ns: int) -> datetime:
    """The UTC ``datetime`` of ``ts_ns``, truncated to the microsecond (exact integer maths)."""
    return _EPOCH + timedelta(microseconds=ts_ns // 1_000)


def iso_utc(ts_ns: int) -> str:
    """ISO 8601 UTC text of ``ts_ns``: ``2024-01-02T03:04:05Z``, with a fraction if non-zero."""
    seconds, nanos = divmod(ts_ns, _NANOS_PER_SECOND)
    day, second_of_day = divmod(seconds, 86_400)
    hours, rest = divmod(second_of_day, 3_600)
    minutes, secs = divmod(rest, 60)
    text = f"{_date_text(day)}T{hours:02d}:{minutes:02d}:{secs:02d}"
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"


@lru_cache(maxsize=4_096)
def _date_text(day: int) -> str:
    # Cached: an equity CSV of a million rows spans only a few thousand days.
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")


def format_duration(ns: int) -> str:
    """``3d 04:05:06`` / ``04:05:06`` for a duration in ns; sub-second ones as ``0.250s``."""
    if ns < 0:
        return "-" + format_duration(-ns)
    if ns < _NANOS_PER_SECOND:
        return f"{ns / _NANOS_PER_SECOND:.3f}s"
    seconds = ns // _NANOS_PER_SECOND
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock}" if days else clock


def format_money(value: Decimal) -> str:
    """Exact digits with thousands separators: ``-1,234.50``."""
    if value == 0:
        value = abs(value)  # no "-0.00"
    return f"{value:,f}" if value.is_finite() else plain(value)


def format_percent(fraction: float | None, places: int = 2) -> str:
    """``0.1234`` -> ``12.34%``; ``None`` -> ``n/a``."""
    if fraction is None:
        return "n/a"
    return _unsigned_zero(f"{fraction * 100:.{places}f}") + "%"


def format_ratio(value: float | None, places: int = 3) -> str:
    """A ratio to ``places`` decimals; ``None`` -> ``n/a``."""
    if value is None:
        return "n/a"
    return _unsigned_zero(f"{value:.{places}f}")


def _unsigned_zero(text: str) -> str:
    # A tiny negative rounds to "-0.00"; show it as "0.00".
    return text.lstrip("-") if float(text) == 0.0 else text
