"""Soak: a paper node under steady load keeps its memory bounded and makes no errors.

Behind the ``soak`` marker (not in the default run): ``pytest -m soak``. The length comes from
``TRADELOOP_SOAK_SECONDS`` (default 600, the benchmark's ten minutes); CI runs a short one.
"""

from __future__ import annotations

import os

import pytest

from tradeloop.runtime.loadtest import run_loadtest

pytestmark = pytest.mark.soak

SECONDS = float(os.environ.get("TRADELOOP_SOAK_SECONDS", "600"))


def test_a_paper_node_under_steady_load_stays_within_its_memory_and_makes_no_errors() -> None:
    report = run_loadtest(10_000, SECONDS)
    assert report.delivered == int(10_000 * SECONDS)
    assert report.handler_errors == 0
    assert report.dropped == 0
    assert report.orders == report.delivered // 100
    assert report.memory_growth_mb < 5.0, report.rows()
