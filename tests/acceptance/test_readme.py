"""The README's strategy example is real code: it runs in a backtest."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.data import generate_event_contract
from tradeloop.data.synthetic import generate_bars
from tradeloop.lifecycle import ExitTriggered, LifecycleConfig
from tradeloop.model import BinaryEventContract, Equity, Money
from tradeloop.runtime import BacktestEngine
from tradeloop.venues.simulated import AccountType, SimulatedVenueConfig

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def _load(block: str) -> types.ModuleType:
    module = types.ModuleType("readme_example")
    sys.modules[module.__name__] = module  # pydantic resolves annotations through the module
    try:
        exec(compile(block, str(README), "exec"), module.__dict__)  # our own README
    finally:
        del sys.modules[module.__name__]
    return module


def test_readme_strategy_example_trades_in_a_backtest() -> None:
    block, _ = _python_blocks()
    module = _load(block)
    config_cls = module.BreakoutConfig
    strategy_cls = module.Breakout
    instrument = Equity("DEMO.SIM")
    engine = BacktestEngine(seed=3)
    engine.add_instrument(instrument)
    engine.add_venue(
        "SIM",
        SimulatedVenueConfig(
            starting_balances=Money.from_str("100000", "USD"), account_type=AccountType.CASH
        ),
    )
    engine.add_data(generate_bars(instrument, 3_000, seed=11, start_price="50", drift=0.0002))
    engine.add_strategy(strategy_cls(config_cls(instrument_id="DEMO.SIM", quantity=10)))  # type: ignore[operator]
    result = engine.run()
    assert result.fills >= 1
    assert result.bus.handler_errors == 0


def test_readme_edge_example_enters_and_exits_through_its_method() -> None:
    _, block = _python_blocks()
    module = _load(block)
    start = 1_704_067_200 * NANOS_PER_SECOND
    instrument = BinaryEventContract("RAIN.SIM", expiry_ns=start + 4_000 * 60 * NANOS_PER_SECOND)
    series = generate_event_contract(instrument, 3_000, start_ns=start, seed=5, true_probability=0.5)
    lifecycle = LifecycleConfig.model_validate(
        {
            "methods": {
                "value": {
                    "sizing": {"rule": "kelly", "max_quantity": 500},
                    "monitor": {"interval_seconds": 60, "price_ttl_seconds": 120},
                    "exits": {"stop_loss_pct": 20, "profit_target": {"target_pct": 10}},
                }
            }
        }
    )
    engine = BacktestEngine(seed=3, lifecycle=lifecycle)
    engine.add_instrument(instrument)
    engine.add_venue("SIM", SimulatedVenueConfig(starting_balances=Money.from_str("10000", "USD")))
    engine.add_data(series.data)
    strategy = module.FairValue(
        module.FairValueConfig(instrument_id="RAIN.SIM", fair_value=0.6, method="value")
    )
    engine.add_strategy(strategy)
    exits: list[ExitTriggered] = []
    engine.bus.subscribe(ExitTriggered, exits.append)
    result = engine.run()
    assert result.fills >= 2
    assert exits
    assert result.bus.handler_errors == 0
