"""The risk engine's checks that need no state of its own, and how their reasons show numbers.

Each ``*_problem`` function answers one check of :class:`~tradeloop.risk.engine.RiskEngine`
from the facts it is given: ``None`` when the order passes, else the denial reason
``"<check>: <details>"``. They read (the portfolio, the correlation tracker) and never change
anything. The ``*_text`` functions write raws in those reasons.

These are the engine's helpers, not part of the public API of :mod:`tradeloop.risk`: nothing
here is exported.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_UP, Decimal

from tradeloop.model.commands import ModifyOrder, OrderSpec
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_SCALAR, Price, currency_precision, raw_to_decimal
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.risk.correlation import CorrelatedPart, CorrelationTracker
from tradeloop.risk.limits import RiskLimits

__all__: list[str] = []  # the engine's helpers; tradeloop.risk re-exports nothing from here

# -- numbers in reasons ----------------------------------------------------------------------


def num_text(raw: int) -> str:
    """A raw as a plain decimal without trailing zeros (``150``, ``0.5``)."""
    return f"{raw_to_decimal(raw).normalize():f}"


def price_text(instrument: Instrument, raw: int) -> str:
    """A price at the instrument's precision, or exact when it is off the grid (a quote mid)."""
    shown = raw_to_decimal(raw, instrument.price_precision)
    return str(shown) if shown == raw_to_decimal(raw) else num_text(raw)


def product_text(instrument: Instrument, qty_raw: int, px_raw: int) -> str:
    """How a value was computed: ``(101 x 100.00)`` or ``(2 x 5000.00 x 50)``."""
    multiplier = f" x {instrument.multiplier}" if instrument.multiplier != 1 else ""
    return f"({num_text(qty_raw)} x {price_text(instrument, px_raw)}{multiplier})"


def money_text(currency: str, raw: int) -> str:
    """A money raw at the currency's precision with its code: ``1500.00 USD``."""
    return f"{raw_to_decimal(raw, currency_precision(currency))} {currency}"


def parts_text(parts: list[CorrelatedPart], currency: str) -> str:
    """The correlated positions counted, each as ``", <instrument> <exposure> at correlation <c>"``."""
    return "".join(
        f", {other} {money_text(currency, raw)} at correlation {corr:.2f}" for other, raw, corr in parts
    )


# -- checks ------------------------------------------------------------------------------------


def grid_problem(instrument: Instrument, spec: OrderSpec | ModifyOrder) -> str | None:
    """``instrument``: the quantity and the prices (those given) are on the instrument's grids."""
    if spec.quantity is not None:
        problem = instrument.quantity_problem(spec.quantity)
        if problem is not None:
            return f"instrument: {instrument.id} {problem}"
    for price in (spec.price, spec.trigger_price):
        if price is not None:
            problem = instrument.price_problem(price)
            if problem is not None:
                return f"instrument: {instrument.id} {problem}"
    return None


def band_problem(
    band_pct: int, instrument: Instrument, last: int | None, price: Price | None, trigger: Price | None
) -> str | None:
    """``price_band_pct``: the limit and trigger prices (those given) lie within ``band_pct``
    (a percent raw) of the last price ``last``; without a last price the check fails."""
    iid = instrument.id
    if last is None:
        return f"price_band_pct: no last price on {iid} to check the band against"
    reference = abs(last)
    for name, candidate in (("price", price), ("trigger price", trigger)):
        if candidate is None:
            continue
        distance = abs(candidate.raw - last)
        # |p - last| / |last| x 100 <= pct, in integers (band_pct is the pct x 10**9).
        if distance * 100 * FIXED_SCALAR > reference * band_pct:
            # Shown rounded up, so a breach never reads as inside the band.
            off = (
                f"{(Decimal(distance) * 100 / reference).quantize(Decimal('0.01'), ROUND_UP)}% "
                if reference
                else ""
            )
            return (
                f"price_band_pct: {name} {candidate} is {off}away from the last price "
                f"{price_text(instrument, last)} on {iid}, outside the band of {num_text(band_pct)}%"
            )
    return None


def valuation_price(spec: OrderSpec, last: int | None) -> int | None:
    """The price an order is valued at: its limit, else its trigger (a stop market, or any
    stop without a last price), else the last price; ``None`` when there is none."""
    if spec.price is not None:
        return abs(spec.price.raw)
    if spec.trigger_price is not None and (spec.order_type is OrderType.STOP_MARKET or last is None):
        return abs(spec.trigger_price.raw)
    return None if last is None else abs(last)


def exposure_problem(
    limits: RiskLimits,
    portfolio: Portfolio,
    instrument: Instrument,
    side: OrderSide,
    qty: int,
    net: int,
    after: int,
    px: int | None,
    working: int,
    others: Callable[[], int],
) -> str | None:
    """``max_position_quantity``, ``max_position_notional``, ``max_gross_exposure``.

    ``net`` is the net position now, ``after`` its size should the order (``side``, ``qty``)
    and the ``working`` orders on its side fill, ``px`` the order's valuation price (``None``
    only when no value-based limit is on: the caller checks that). ``others`` gives the gross
    exposure of every other instrument on its own worst case (asked only for the gross limit).
    """
    iid = instrument.id
    max_pos = limits.position_qty_by.get(iid, limits.position_qty)
    if max_pos is not None and after > max_pos:
        return (
            f"max_position_quantity: net position would be {num_text(after)} (now {num_text(net)}, "
            f"{side.value} {num_text(qty)}{f', {num_text(working)} more working' if working else ''}) "
            f"> {num_text(max_pos)} on {iid}"
        )
    if px is None:
        return None  # no value-based limit is on (checked by the caller)
    currency = portfolio.currency
    value_after = instrument.notional_raw(px, after)
    if limits.position_notional is not None and value_after > limits.position_notional:
        return (
            f"max_position_notional: position would be worth {money_text(currency, value_after)} "
            f"{product_text(instrument, after, px)} "
            f"> {money_text(currency, limits.position_notional)} on {iid}"
        )
    if limits.gross_exposure is not None:
        gross = others() + value_after
        if gross > limits.gross_exposure:
            return (
                f"max_gross_exposure: gross exposure would be {money_text(currency, gross)} with "
                f"every working order filled (positions now "
                f"{money_text(currency, portfolio.gross_exposure_raw())}) "
                f"> {money_text(currency, limits.gross_exposure)}"
            )
    return None


def correlation_problem(
    tracker: CorrelationTracker,
    limit: int,
    threshold: float,
    instrument: Instrument,
    after: int,
    px: int | None,
    currency: str,
) -> str | None:
    """``max_correlated_exposure``: the position after the order (``after`` at ``px``) plus the
    positions correlated with it at ``threshold`` or more may not exceed ``limit``."""
    iid = instrument.id
    if px is None:
        return f"max_correlated_exposure: no last price on {iid} to value the order"
    own = instrument.notional_raw(px, after)
    total, parts = tracker.correlated_exposure(iid, own, threshold)
    if total <= limit:
        return None
    return (
        f"max_correlated_exposure: correlated exposure would be {money_text(currency, total)} "
        f"({iid} {money_text(currency, own)} after the order{parts_text(parts, currency)}) "
        f"> {money_text(currency, limit)}"
    )
