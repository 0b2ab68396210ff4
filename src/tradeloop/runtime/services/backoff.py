"""The restart backoff of the orchestrator."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradeloop.core.errors import TradeloopError

__all__ = ["Backoff"]


def _finite(name: str, value: float, low: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low:
        raise TradeloopError(f"Backoff: {name} must be a finite number >= {low:g}, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential restart backoff: ``min(max_s, initial_s * factor ** (attempt - 1))``.

    Raises
    ------
    TradeloopError
        If a value is not finite, ``initial_s`` is negative, ``max_s < initial_s`` or
        ``factor < 1``.
    """

    initial_s: float = 1.0
    max_s: float = 30.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        _finite("initial_s", self.initial_s, 0.0)
        _finite("max_s", self.max_s, self.initial_s)
        _finite("factor", self.factor, 1.0)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before restart number ``attempt`` (1-based) of the window."""
        if attempt < 1:
            raise TradeloopError(f"Backoff: attempt must be at least 1, got {attempt}")
        # Capped before the power can overflow a float on a long-running node.
        exponent = min(attempt - 1, 1_000)
        return float(min(self.max_s, self.initial_s * self.factor**exponent))
