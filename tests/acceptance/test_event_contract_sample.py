"""The event-contract sample end to end: edges from a model, entries and exits by its method.

Golden numbers pin the outcome of ``examples/event_contract_edge.yaml`` on its shipped data;
every exit names its reason and every position the sample opens is closed by the lifecycle.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from tradeloop.config import load_config
from tradeloop.core.message import Message
from tradeloop.lifecycle import EntryRejected, ExitTriggered
from tradeloop.model.events import PositionOpened
from tradeloop.runtime import BacktestConfig, BacktestResult, build_engine

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "event_contract_edge.yaml"


@pytest.fixture(scope="module")
def outcome() -> tuple[BacktestResult, list[Message]]:
    cwd = os.getcwd()
    os.chdir(ROOT)  # the example names its data files relative to the repository
    try:
        cfg = load_config(BacktestConfig, EXAMPLE, overrides=["log.enabled=false"])
        engine = build_engine(cfg, event_log=None)
        seen: list[Message] = []
        engine.bus.add_recorder(seen.append)
        return engine.run(), seen
    finally:
        os.chdir(cwd)


def test_event_contract_sample_matches_its_golden_numbers(
    outcome: tuple[BacktestResult, list[Message]],
) -> None:
    result, seen = outcome
    assert result.bus.handler_errors == 0
    assert str(result.final_equity) == "10876.53 USD"
    assert len(result.trades) == 10
    reasons = Counter(m.reason.value for m in seen if isinstance(m, ExitTriggered))
    assert reasons == {"EDGE_DECAY": 9, "LIQUIDITY": 1}
    assert sum(isinstance(m, PositionOpened) for m in seen) == 10


def test_event_contract_sample_rejects_small_edges_with_the_method_threshold(
    outcome: tuple[BacktestResult, list[Message]],
) -> None:
    _, seen = outcome
    rejected = [m for m in seen if isinstance(m, EntryRejected)]
    assert rejected
    assert {m.reason.partition(":")[0] for m in rejected} == {"min_edge"}
