"""The services package re-exports exactly the public names of its modules."""

from __future__ import annotations

import importlib

import tradeloop.runtime.services

MODULES = [
    "backoff",
    "events",
    "execution",
    "indicators",
    "lifecycle",
    "market_data",
    "orchestrator",
    "reports",
    "scheduler",
    "service",
    "strategies",
]


def test_package_exports_every_public_name_of_its_modules_and_nothing_else() -> None:
    package = tradeloop.runtime.services
    from_modules = {
        name
        for module in MODULES
        for name in importlib.import_module(f"tradeloop.runtime.services.{module}").__all__
    }

    assert set(package.__all__) == from_modules
    assert len(package.__all__) == len(from_modules)
    assert all(hasattr(package, name) for name in package.__all__)
