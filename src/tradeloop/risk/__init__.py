"""Risk: pre-trade checks, trading state and authorisation, circuit breakers, correlation, sizing."""

from tradeloop.risk.authorisation import (
    BLACKOUT_SOURCE,
    BlackoutWindow,
    TradingAuthorisation,
    TradingBlock,
    TradingStateKeeper,
    load_blackout_calendar,
)
from tradeloop.risk.breakers import ALERT_SOURCE, BREAKERS, PRIORITY_BREAKERS, BreakerSpec, CircuitBreakers
from tradeloop.risk.config import (
    BreakerConfig,
    CorrelationConfig,
    ErrorRateConfig,
    RiskBreachConfig,
    RiskConfig,
    StoreErrorsConfig,
    VenueErrorsConfig,
)
from tradeloop.risk.correlation import (
    PRIORITY_CORRELATION,
    SAMPLE_TIMER,
    CorrelatedPart,
    CorrelationTracker,
)
from tradeloop.risk.engine import PRIORITY_RISK, RiskEngine
from tradeloop.risk.events import (
    CircuitBreakerReset,
    CircuitBreakerTripped,
    OrderModifyDenied,
    ResetCircuitBreaker,
    TradingAuthorized,
    TradingBlocked,
    TradingState,
    TradingStateChanged,
)
from tradeloop.risk.limits import RiskLimits
from tradeloop.risk.sizing import FixedFraction, FixedQuantity, FractionalKelly, Sizer

__all__ = [
    "ALERT_SOURCE",
    "BLACKOUT_SOURCE",
    "BREAKERS",
    "PRIORITY_BREAKERS",
    "PRIORITY_CORRELATION",
    "PRIORITY_RISK",
    "SAMPLE_TIMER",
    "BlackoutWindow",
    "BreakerConfig",
    "BreakerSpec",
    "CircuitBreakerReset",
    "CircuitBreakerTripped",
    "CircuitBreakers",
    "CorrelatedPart",
    "CorrelationConfig",
    "CorrelationTracker",
    "ErrorRateConfig",
    "FixedFraction",
    "FixedQuantity",
    "FractionalKelly",
    "OrderModifyDenied",
    "ResetCircuitBreaker",
    "RiskBreachConfig",
    "RiskConfig",
    "RiskEngine",
    "RiskLimits",
    "Sizer",
    "StoreErrorsConfig",
    "TradingAuthorisation",
    "TradingAuthorized",
    "TradingBlock",
    "TradingBlocked",
    "TradingState",
    "TradingStateChanged",
    "TradingStateKeeper",
    "VenueErrorsConfig",
    "load_blackout_calendar",
]
