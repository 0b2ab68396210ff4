"""Limit prices of exit orders: where the first limit goes and where each walk moves it.

Pure functions on integer raws: no bus, no clock, no cache. The
:class:`~tradeloop.lifecycle.exit_executor.ExitExecutor` finds the bid and ask (or the last
price standing for both) and asks here for the price.

Prices (raws, on the tick grid, clamped to the instrument's min/max price)
    ``aggressive_limit``: a sell at the bid ``offset_ticks`` lower, a buy at the ask
    ``offset_ticks`` higher. ``fair_limit``: the mid, rounded toward the market (a sell down, a
    buy up). ``conservative_limit``: a sell at the ask ``offset_ticks`` higher, a buy at the bid
    ``offset_ticks`` lower, rounded away from the market.

Walks
    A walk moves the limit ``walk_ticks`` toward the market (one tick under ``walk_slowly``),
    clamped to the price band; a walk the band stops (the limit is already at the
    instrument's min or max price) gives no price.
"""

from __future__ import annotations

from tradeloop.core.errors import ValueRangeError
from tradeloop.lifecycle.methods import PriorityExecution
from tradeloop.model.enums import OrderSide
from tradeloop.model.instruments import Instrument

__all__ = ["clamp_to_band", "initial_limit_price", "next_walk_price"]


def clamp_to_band(instrument: Instrument, raw: int) -> int:
    """``raw`` moved inside the instrument's min/max price (unchanged when it has none).

    Parameters
    ----------
    instrument:
        Its ``min_price`` and ``max_price`` bound the result.
    raw:
        A price raw.
    """
    if instrument.min_price is not None and raw < instrument.min_price.raw:
        return instrument.min_price.raw
    if instrument.max_price is not None and raw > instrument.max_price.raw:
        return instrument.max_price.raw
    return raw


def initial_limit_price(
    instrument: Instrument, side: OrderSide, execution: PriorityExecution, bid_raw: int, ask_raw: int
) -> int:
    """The price of an exit's first limit order, on the tick grid and inside the price band.

    Parameters
    ----------
    instrument:
        Its tick size and price band.
    side:
        The exit order's side (``SELL`` closes a long).
    execution:
        Its ``style`` (a limit style) and ``offset_ticks`` place the price.
    bid_raw, ask_raw:
        The best bid and ask; without a quote pass the last price for both.

    Raises
    ------
    ValueRangeError
        If the style is ``market``: a market order has no limit price.
    """
    style = execution.style
    sell = side is OrderSide.SELL
    offset = execution.offset_ticks * instrument.price_increment.raw
    if style == "aggressive_limit":
        raw, up = (bid_raw - offset, False) if sell else (ask_raw + offset, True)
    elif style == "fair_limit":
        raw, up = (bid_raw + ask_raw) // 2, not sell  # toward the market
    elif style == "conservative_limit":  # rounded away from the market
        raw, up = (ask_raw + offset, True) if sell else (bid_raw - offset, False)
    else:
        raise ValueRangeError(f"exit style {style!r} has no limit price")
    return clamp_to_band(instrument, instrument.round_price_raw(raw, up=up))


def next_walk_price(
    instrument: Instrument, side: OrderSide, price_raw: int, execution: PriorityExecution
) -> int | None:
    """The limit price one walk toward the market from ``price_raw``, or ``None`` when the
    price band stops the walk.

    Parameters
    ----------
    instrument:
        Its tick size and price band.
    side:
        The exit order's side: a sell walks down, a buy up.
    price_raw:
        The limit price now.
    execution:
        ``walk_ticks`` per walk, or one tick under the ``walk_slowly`` escalation.
    """
    ticks = 1 if execution.escalation == "walk_slowly" else execution.walk_ticks
    step = ticks * instrument.price_increment.raw
    raw = clamp_to_band(instrument, price_raw - step if side is OrderSide.SELL else price_raw + step)
    return None if raw == price_raw else raw
