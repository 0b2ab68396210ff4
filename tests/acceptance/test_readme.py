"""The README's strategy example is real code: it runs in a backtest."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from tradeloop.data.synthetic import generate_bars
from tradeloop.model import Equity, Money
from tradeloop.runtime import BacktestEngine
from tradeloop.venues.simulated import AccountType, SimulatedVenueConfig

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_strategy_example_trades_in_a_backtest() -> None:
    (block,) = _python_blocks()
    module = types.ModuleType("readme_example")
    sys.modules[module.__name__] = module  # pydantic resolves annotations through the module
    try:
        exec(compile(block, str(README), "exec"), module.__dict__)  # our own README
    finally:
        del sys.modules[module.__name__]
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
