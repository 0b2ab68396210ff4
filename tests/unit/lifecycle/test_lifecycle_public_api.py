"""The lifecycle package re-exports exactly its public names."""

from __future__ import annotations

import importlib
import pkgutil

import tradeloop.lifecycle


def test_package_exports_every_public_name_of_its_modules_and_nothing_else() -> None:
    modules = [m.name for m in pkgutil.iter_modules(tradeloop.lifecycle.__path__)]
    from_modules = {
        name
        for module in modules
        for name in importlib.import_module(f"tradeloop.lifecycle.{module}").__all__
    }

    assert set(tradeloop.lifecycle.__all__) == from_modules
    assert len(tradeloop.lifecycle.__all__) == len(from_modules)
    assert all(hasattr(tradeloop.lifecycle, name) for name in tradeloop.lifecycle.__all__)
