"""The risk package re-exports exactly its public names."""

from __future__ import annotations

import importlib

import tradeloop.risk

MODULES = ["authorisation", "breakers", "config", "correlation", "engine", "events", "limits", "sizing"]


def test_package_exports_every_public_name_of_its_modules_and_nothing_else() -> None:
    from_modules = {
        name for module in MODULES for name in importlib.import_module(f"tradeloop.risk.{module}").__all__
    }

    assert set(tradeloop.risk.__all__) == from_modules
    assert len(tradeloop.risk.__all__) == len(from_modules)
    assert all(hasattr(tradeloop.risk, name) for name in tradeloop.risk.__all__)
