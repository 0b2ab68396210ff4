"""Inline SVG time-series charts: no plotting library, no scripts, no external files.

A chart is a string of SVG markup to embed in an HTML page. The value axis gets "nice"
ticks (1, 2, 2.5 or 5 times a power of ten); the time axis gets UTC-aligned ticks (seconds
to weeks, then calendar months and years) labelled with their date. Coordinates are printed
with one decimal, so the same input always gives the same bytes. Every piece of text is
escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from tradeloop.analysis.formatting import utc_datetime
from tradeloop.core.errors import DataError

__all__ = ["ChartStyle", "time_series_svg"]

_NS = 1_000_000_000
_DAY = 86_400 * _NS
_MAX_TIME_TICKS = 8
_FIXED_STEPS_S = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800,
    3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 2 * 86_400, 7 * 86_400, 14 * 86_400,
)  # fmt: skip
_MONDAY_OFFSET_NS = 4 * _DAY  # 1970-01-01 was a Thursday; week ticks fall on Mondays
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1_200)
_EPOCH = utc_datetime(0)


@dataclass(frozen=True, slots=True)
class ChartStyle:
    """Geometry and colours of a chart (pixels in the SVG's own coordinate system)."""

    width: int = 960
    height: int = 300
    left: int = 88
    right: int = 20
    top: int = 34
    bottom: int = 46
    stroke: str = "#1f5fa8"
    fill: str = "none"


def time_series_svg(
    ts_ns: Sequence[int],
    values: Sequence[float],
    *,
    title: str,
    unit_suffix: str = "",
    area: bool = False,
    reference: float | None = None,
    style: ChartStyle | None = None,
) -> str:
    """SVG markup for ``values`` against ``ts_ns`` (non-decreasing).

    Parameters
    ----------
    title
        Shown above the plot and as the SVG's accessible title.
    unit_suffix
        Appended to value tick labels (``"%"`` for a percentage chart).
    area
        Fill between the series and zero (used for the underwater chart).
    reference
        Value of a dashed horizontal reference line (e.g. the starting balance).
    """
    if len(ts_ns) != len(values):
        raise DataError(f"chart {title!r}: {len(ts_ns)} timestamps but {len(values)} values")
    st = style or ChartStyle()
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {st.width} {st.height}" '
        f'width="{st.width}" height="{st.height}" role="img" class="chart" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{st.left}" y="20" font-size="14" font-weight="600" fill="#222">{escape(title)}</text>',
    ]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        out.append(
            f'<text x="{st.width / 2:.1f}" y="{st.height / 2:.1f}" text-anchor="middle" '
            'fill="#666">No data</text></svg>'
        )
        return "".join(out)
    plot_w = st.width - st.left - st.right
    plot_h = st.height - st.top - st.bottom
    lows = [*finite, 0.0] if area else finite
    if reference is not None:
        lows = [*lows, reference]
    y_ticks, decimals = _value_ticks(min(lows), max(lows))
    y_lo, y_hi = y_ticks[0], y_ticks[-1]
    t0, t1 = ts_ns[0], ts_ns[-1]
    if t1 == t0:  # one instant: centre it in a one-hour window
        t0, t1 = t0 - 1_800 * _NS, t1 + 1_800 * _NS

    def x(t: int) -> float:
        return st.left + (t - t0) * plot_w / (t1 - t0)

    def y(v: float) -> float:
        return st.top + (y_hi - v) * plot_h / (y_hi - y_lo)

    bottom = st.top + plot_h
    out.append(
        f'<rect x="{st.left}" y="{st.top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>'
    )
    for tick in y_ticks:
        ty = y(tick)
        out.append(
            f'<line x1="{st.left}" y1="{ty:.1f}" x2="{st.left + plot_w}" y2="{ty:.1f}" '
            'stroke="#e4e4e4"/>'
            f'<text x="{st.left - 6}" y="{ty + 4:.1f}" text-anchor="end" fill="#444">'
            f"{escape(_value_label(tick, decimals) + unit_suffix)}</text>"
        )
    for tick_ns, lines in _time_ticks(t0, t1):
        tx = x(tick_ns)
        out.append(
            f'<line x1="{tx:.1f}" y1="{st.top}" x2="{tx:.1f}" y2="{bottom + 4}" stroke="#e4e4e4"/>'
            f'<text x="{tx:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#444">'
        )
        for row, line in enumerate(lines):
            out.append(f'<tspan x="{tx:.1f}" dy="{0 if row == 0 else 13}">{escape(line)}</tspan>')
        out.append("</text>")
    if reference is not None:
        ry = y(reference)
        out.append(
            f'<line x1="{st.left}" y1="{ry:.1f}" x2="{st.left + plot_w}" y2="{ry:.1f}" '
            'stroke="#888" stroke-dasharray="4 3"/>'
        )
    coords = " ".join(
        f"{x(t):.1f},{y(v):.1f}" for t, v in zip(ts_ns, values, strict=True) if math.isfinite(v)
    )
    if area:
        zero = f"{y(0.0):.1f}"
        first, last = f"{x(ts_ns[0]):.1f}", f"{x(ts_ns[-1]):.1f}"
        out.append(
            f'<polygon points="{first},{zero} {coords} {last},{zero}" fill="{st.stroke}" '
            'fill-opacity="0.25" stroke="none"/>'
        )
    out.append(
        f'<polyline points="{coords}" fill="none" stroke="{st.stroke}" stroke-width="1.5" '
        'stroke-linejoin="round"/>'
        f'<line x1="{st.left}" y1="{bottom}" x2="{st.left + plot_w}" y2="{bottom}" stroke="#444"/>'
        f'<line x1="{st.left}" y1="{st.top}" x2="{st.left}" y2="{bottom}" stroke="#444"/>'
        "</svg>"
    )
    return "".join(out)


def _value_ticks(lo: float, hi: float, target: int = 5) -> tuple[list[float], int]:
    """Nice ticks covering ``[lo, hi]`` and the decimals needed to print them."""
    if hi - lo <= abs(hi) * 1e-12:
        pad = max(abs(hi) * 0.01, 1.0)
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / target
    exponent = math.floor(math.log10(raw))
    magnitude = 10.0**exponent
    mantissa, extra = next(
        (m, e) for m, e in ((1.0, 0), (2.0, 0), (2.5, 1), (5.0, 0), (10.0, 0)) if m * magnitude >= raw
    )
    step = mantissa * magnitude
    first, last = math.floor(lo / step), math.ceil(hi / step)
    decimals = max(0, -exponent + extra) if mantissa != 10.0 else max(0, -exponent - 1)
    return [k * step for k in range(first, last + 1)], decimals


def _value_label(value: float, decimals: int) -> str:
    text = f"{value:,.{decimals}f}"
    return text.lstrip("-") if float(text.replace(",", "")) == 0.0 else text


def _time_ticks(t0: int, t1: int) -> list[tuple[int, tuple[str, ...]]]:
    """UTC-aligned ticks in ``[t0, t1]`` with their label lines (time, then date).

    A span too short to hold an aligned tick gets one at ``t0``, so a date is always shown.
    """
    ticks = _aligned_ticks(t0, t1)
    return ticks or [(t0, _time_label(t0, 1))]


def _aligned_ticks(t0: int, t1: int) -> list[tuple[int, tuple[str, ...]]]:
    span = t1 - t0
    for step_s in _FIXED_STEPS_S:
        step = step_s * _NS
        if span // step <= _MAX_TIME_TICKS:
            offset = _MONDAY_OFFSET_NS if step_s == 7 * 86_400 or step_s == 14 * 86_400 else 0
            first = -(-(t0 - offset) // step) * step + offset
            ticks = range(first, t1 + 1, step)
            return [(t, _time_label(t, step_s)) for t in ticks]
    months_span = span / (30.436875 * _DAY)
    months = next((m for m in _MONTH_STEPS if months_span / m <= _MAX_TIME_TICKS), _MONTH_STEPS[-1])
    start = utc_datetime(t0)
    index = start.year * 12 + start.month - 1
    if start != datetime(start.year, start.month, 1, tzinfo=start.tzinfo):
        index += 1  # t0 is past the 1st of its month: start at the next month
    index = -(-index // months) * months
    out: list[tuple[int, tuple[str, ...]]] = []
    while True:
        year, month0 = divmod(index, 12)
        moment = datetime(year, month0 + 1, 1, tzinfo=start.tzinfo)
        tick = (moment - _EPOCH) // timedelta(microseconds=1) * 1_000
        if tick > t1:
            return out
        out.append((tick, (moment.strftime("%Y-%m-%d"),)))
        index += months


def _time_label(ts_ns: int, step_s: int) -> tuple[str, ...]:
    moment = utc_datetime(ts_ns)
    day = moment.strftime("%Y-%m-%d")
    if step_s >= 86_400:
        return (day,)
    return (moment.strftime("%H:%M:%S" if step_s < 60 else "%H:%M"), day)
