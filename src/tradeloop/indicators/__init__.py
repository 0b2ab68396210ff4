"""Streaming technical indicators (O(1) per update) and the market regime detector."""

from tradeloop.indicators.atr import ATR, AverageTrueRange
from tradeloop.indicators.base import Indicator, ValueIndicator
from tradeloop.indicators.bollinger import BollingerBands
from tradeloop.indicators.efficiency_ratio import ER, EfficiencyRatio
from tradeloop.indicators.ema import EMA, ExponentialMovingAverage
from tradeloop.indicators.macd import MACD
from tradeloop.indicators.regime import Regime, RegimeDetector
from tradeloop.indicators.rsi import RSI, RelativeStrengthIndex
from tradeloop.indicators.sma import SMA, SimpleMovingAverage

__all__ = [
    "ATR",
    "EMA",
    "ER",
    "MACD",
    "RSI",
    "SMA",
    "AverageTrueRange",
    "BollingerBands",
    "EfficiencyRatio",
    "ExponentialMovingAverage",
    "Indicator",
    "Regime",
    "RegimeDetector",
    "RelativeStrengthIndex",
    "SimpleMovingAverage",
    "ValueIndicator",
]
