"""Sample strategies shipped with tradeloop."""

from tradeloop.strategy.samples.event_contract import EventContractEdge, EventContractEdgeConfig
from tradeloop.strategy.samples.ma_cross import MovingAverageCrossover, MovingAverageCrossoverConfig
from tradeloop.strategy.samples.mean_reversion import MeanReversion, MeanReversionConfig

__all__ = [
    "EventContractEdge",
    "EventContractEdgeConfig",
    "MeanReversion",
    "MeanReversionConfig",
    "MovingAverageCrossover",
    "MovingAverageCrossoverConfig",
]
