"""The trailing stop of one position: it follows the best price since entry and never backs off.

Everything is integer arithmetic on raws (value x 10**9). The rule's percentages and ATR
multiple are compiled to raws once; each stop is computed as an exact fraction and snapped onto
the instrument's tick grid in one floor (long) or ceiling (short) division, so the stop is never
tighter than the rule allows and no rounding happens before the grid.

The peak starts at the entry price: a position is at its best at the moment it opens, so an
``activation_pct`` of ``0`` arms the stop at once, as the rule says.
"""

from __future__ import annotations

from tradeloop.core.errors import ValueRangeError
from tradeloop.lifecycle.methods import TrailingStopRule
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_PRECISION, FIXED_SCALAR

__all__ = ["TrailingStop"]

_HUNDRED_SCALED = 100 * FIXED_SCALAR  # 100 % as a percent raw


class TrailingStop:
    """A trailing stop for one long or short position.

    Parameters
    ----------
    rule:
        The method's trailing-stop rule: activation, and a distance as a percentage of the peak
        or as a multiple of the ATR.
    long:
        ``True`` for a long position (the stop trails below the highest price), ``False`` for a
        short one (it trails above the lowest price).
    entry_raw:
        The position's entry price raw; must be positive (the activation threshold is a
        percentage of it).
    instrument:
        Gives the tick grid the stop is snapped onto.

    Notes
    -----
    The stop is only placed by :meth:`update`: the first placement reports ``True`` like any
    later move, so a caller that announces moves announces the first stop too. Once active it
    stays active. With an ATR distance and no ATR yet the stop stays where it was (unplaced at
    first); :attr:`active` may then be ``True`` while :attr:`stop_raw` is ``None``.
    """

    __slots__ = (
        "_activation_raw",
        "_active",
        "_atr_multiple_raw",
        "_distance_raw",
        "_entry_raw",
        "_inc",
        "_long",
        "_peak",
        "_stop",
    )

    def __init__(self, rule: TrailingStopRule, *, long: bool, entry_raw: int, instrument: Instrument) -> None:
        if entry_raw <= 0:
            raise ValueRangeError(
                f"{instrument.id}: a trailing stop needs a positive entry price, got raw {entry_raw}"
            )
        self._long = long
        self._entry_raw = entry_raw
        self._inc = instrument.price_increment.raw
        # Percent raws: 2.5 % -> 2_500_000_000. The config guarantees at most nine decimals.
        self._activation_raw = int(rule.activation_pct.scaleb(FIXED_PRECISION))
        self._distance_raw = (
            int(rule.distance_pct.scaleb(FIXED_PRECISION)) if rule.distance_pct is not None else None
        )
        self._atr_multiple_raw = (
            int(rule.atr_multiple.scaleb(FIXED_PRECISION)) if rule.atr_multiple is not None else None
        )
        self._peak = entry_raw
        self._stop: int | None = None
        self._active = self._reached_activation(entry_raw)

    @property
    def long(self) -> bool:
        """Whether the stop protects a long position."""
        return self._long

    @property
    def entry_raw(self) -> int:
        """The entry price raw the activation threshold is measured from."""
        return self._entry_raw

    @property
    def active(self) -> bool:
        """Whether the P&L has reached the activation threshold (it then stays active)."""
        return self._active

    @property
    def stop_raw(self) -> int | None:
        """The stop price raw, on the tick grid; ``None`` until it is placed."""
        return self._stop

    @property
    def peak_raw(self) -> int:
        """The best price seen since entry (highest for a long, lowest for a short), entry included."""
        return self._peak

    def _reached_activation(self, price_raw: int) -> bool:
        # (move / entry) x 100 >= activation_pct, cross-multiplied (entry > 0) to stay exact.
        move = price_raw - self._entry_raw if self._long else self._entry_raw - price_raw
        return move * _HUNDRED_SCALED >= self._activation_raw * self._entry_raw

    def update(self, price_raw: int, atr_raw: int | None = None) -> bool:
        """Fold in a price (and the latest ATR raw, if the distance is ATR-based).

        Returns
        -------
        bool
            ``True`` when the stop moved (or was placed for the first time).

        Raises
        ------
        ValueRangeError
            If ``atr_raw`` is negative.
        """
        if atr_raw is not None and atr_raw < 0:
            raise ValueRangeError(f"ATR must not be negative, got raw {atr_raw}")
        long = self._long
        peak = self._peak
        if (price_raw > peak) if long else (price_raw < peak):
            peak = self._peak = price_raw
        if not self._active:
            if not self._reached_activation(peak):
                return False
            self._active = True
        candidate = self._candidate(peak, atr_raw)
        if candidate is None:
            return False
        stop = self._stop
        if stop is None or (candidate > stop if long else candidate < stop):
            self._stop = candidate
            return True
        return False

    def _candidate(self, peak: int, atr_raw: int | None) -> int | None:
        """The stop the rule asks for at ``peak``, snapped away from the peak onto the grid."""
        inc = self._inc
        if self._distance_raw is not None:
            # stop = peak -/+ |peak| x d / 100; exact numerator over 100 x 10**9, one rounding.
            den = _HUNDRED_SCALED * inc
            offset = abs(peak) * self._distance_raw
            num = peak * _HUNDRED_SCALED
        else:
            if atr_raw is None:
                return None
            assert self._atr_multiple_raw is not None  # the rule validates exactly one distance
            # stop = peak -/+ multiple x ATR, the multiple being a raw at scale 10**9.
            den = FIXED_SCALAR * inc
            offset = self._atr_multiple_raw * atr_raw
            num = peak * FIXED_SCALAR
        if self._long:
            return (num - offset) // den * inc  # floor: never above the exact stop
        return -((-(num + offset)) // den) * inc  # ceiling: never below the exact stop

    def is_hit(self, price_raw: int) -> bool:
        """Whether ``price_raw`` touches the stop (long: at or below it; short: at or above it)."""
        stop = self._stop
        if stop is None:
            return False
        return price_raw <= stop if self._long else price_raw >= stop

    def __repr__(self) -> str:
        side = "long" if self._long else "short"
        return f"TrailingStop({side} entry={self._entry_raw} peak={self._peak} stop={self._stop})"
