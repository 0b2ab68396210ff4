"""The observe package's public names."""

from __future__ import annotations

import tradeloop.observe as observe
from tradeloop.observe import http, logging, metrics


def test_every_public_name_of_the_observe_package_resolves_once() -> None:
    assert sorted(observe.__all__) == sorted(set(observe.__all__))
    for name in observe.__all__:
        assert getattr(observe, name) is not None


def test_the_package_re_exports_each_module_s_public_names() -> None:
    exported = set(observe.__all__)
    for module in (http, logging, metrics):
        assert set(module.__all__) <= exported, module.__name__
