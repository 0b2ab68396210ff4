"""Risk limits compiled for the order path: the config's decimals as exact integer raws."""

from __future__ import annotations

from decimal import Decimal

from tradeloop.model.objects import FIXED_PRECISION
from tradeloop.risk.config import RiskConfig

__all__ = ["RiskLimits"]


def _raw(value: Decimal | None) -> int | None:
    # Exact: the config allows at most FIXED_PRECISION decimal places.
    return None if value is None else int(value.scaleb(FIXED_PRECISION))


class RiskLimits:
    """A :class:`RiskConfig` compiled to integer raws (money and sizes x 10**9).

    ``None`` means the limit is off. Built once per config, so the per-order checks compare
    integers only.
    """

    __slots__ = (
        "band_pct",
        "breach_tolerance_pct",
        "bypass",
        "checks_exposure",
        "config",
        "correlated_exposure",
        "correlation_threshold",
        "daily_loss",
        "drawdown_pct",
        "gross_exposure",
        "needs_value",
        "open_orders",
        "open_orders_per_instrument",
        "order_notional",
        "order_qty",
        "order_qty_by",
        "order_rate",
        "position_notional",
        "position_qty",
        "position_qty_by",
        "rate_window_ns",
    )

    def __init__(self, config: RiskConfig) -> None:
        self.config = config
        self.bypass = config.bypass
        self.order_qty = _raw(config.max_order_quantity)
        self.order_qty_by = {
            k: int(v.scaleb(FIXED_PRECISION)) for k, v in config.max_order_quantity_by_instrument.items()
        }
        self.order_notional = _raw(config.max_order_notional)
        self.position_qty = _raw(config.max_position_quantity)
        self.position_qty_by = {
            k: int(v.scaleb(FIXED_PRECISION)) for k, v in config.max_position_quantity_by_instrument.items()
        }
        self.position_notional = _raw(config.max_position_notional)
        self.gross_exposure = _raw(config.max_gross_exposure)
        self.open_orders = config.max_open_orders
        self.open_orders_per_instrument = config.max_open_orders_per_instrument
        self.order_rate = config.max_order_rate
        self.rate_window_ns = config.rate_interval_ns
        self.band_pct = _raw(config.price_band_pct)  # percent x 10**9: 5 % is 5_000_000_000
        self.daily_loss = _raw(config.max_daily_loss)
        self.drawdown_pct = _raw(config.max_drawdown_pct)  # percent x 10**9, like band_pct
        self.breach_tolerance_pct = _raw(config.breakers.risk_breach.value_tolerance_pct) or 0
        correlation = config.correlation
        self.correlated_exposure = None if correlation is None else _raw(correlation.max_correlated_exposure)
        # A float: it is compared with a correlation, a statistic, never with an amount.
        self.correlation_threshold = 1.0 if correlation is None else float(correlation.threshold)
        self.needs_value = (
            self.order_notional is not None
            or self.position_notional is not None
            or self.gross_exposure is not None
        )
        # Whether any limit on the position an order would leave is on: only then does a check
        # need the orders working on the same side (a scan of the open orders).
        self.checks_exposure = (
            self.position_qty is not None
            or bool(self.position_qty_by)
            or self.position_notional is not None
            or self.gross_exposure is not None
            or self.correlated_exposure is not None
        )
