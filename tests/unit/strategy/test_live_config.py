"""Strategies taking new settings while they run (config hot reload)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.core.errors import TradeloopError
from tradeloop.strategy import Strategy, StrategyConfig
from tradeloop.strategy.samples import (
    MeanReversion,
    MovingAverageCrossover,
    MovingAverageCrossoverConfig,
)


def crossover(**changes: object) -> MovingAverageCrossoverConfig:
    base: dict[str, object] = {"instrument_id": "ABC.SIM", "fast": 5, "slow": 20, "quantity": Decimal(10)}
    return MovingAverageCrossoverConfig.model_validate({**base, **changes})


def test_the_crossover_takes_new_periods_and_quantity() -> None:
    strategy = MovingAverageCrossover(crossover())
    strategy.update_config(crossover(fast=3, slow=30, quantity=Decimal(20)))
    assert strategy.config.quantity == 20  # type: ignore[attr-defined]
    assert (strategy.fast.period, strategy.slow.period) == (3, 30)
    assert MovingAverageCrossover.takes_live_config()


def test_identity_and_instrument_cannot_change_live() -> None:
    strategy = MovingAverageCrossover(crossover())
    with pytest.raises(TradeloopError, match="strategy_id"):
        strategy.update_config(crossover(strategy_id="other"))
    with pytest.raises(TradeloopError, match="instrument_id"):
        strategy.update_config(crossover(instrument_id="XYZ.SIM"))
    with pytest.raises(TradeloopError, match="must be a MovingAverageCrossoverConfig"):
        strategy.update_config(StrategyConfig())
    assert strategy.config == crossover()  # nothing half-applied


def test_a_strategy_without_the_hook_refuses_new_settings() -> None:
    class Plain(Strategy):
        pass

    assert not Plain.takes_live_config()
    assert not MeanReversion.takes_live_config()
    with pytest.raises(TradeloopError, match="cannot change its settings live"):
        Plain().update_config(StrategyConfig())
