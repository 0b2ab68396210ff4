"""Risk: pre-trade checks, trading state, order-rate throttle and position sizing."""

from tradeloop.risk.config import RiskConfig
from tradeloop.risk.engine import PRIORITY_RISK, RiskEngine
from tradeloop.risk.events import OrderModifyDenied, TradingState, TradingStateChanged
from tradeloop.risk.limits import RiskLimits
from tradeloop.risk.sizing import FixedFraction, FixedQuantity, FractionalKelly, Sizer

__all__ = [
    "PRIORITY_RISK",
    "FixedFraction",
    "FixedQuantity",
    "FractionalKelly",
    "OrderModifyDenied",
    "RiskConfig",
    "RiskEngine",
    "RiskLimits",
    "Sizer",
    "TradingState",
    "TradingStateChanged",
]
