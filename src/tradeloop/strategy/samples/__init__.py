"""Sample strategies shipped with tradeloop."""

from tradeloop.strategy.samples.ma_cross import MovingAverageCrossover, MovingAverageCrossoverConfig
from tradeloop.strategy.samples.mean_reversion import MeanReversion, MeanReversionConfig

__all__ = ["MeanReversion", "MeanReversionConfig", "MovingAverageCrossover", "MovingAverageCrossoverConfig"]
