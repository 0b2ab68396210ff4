"""Helpers of the observe tests: parse what a scrape serves; message types on every lane."""

from __future__ import annotations

from typing import ClassVar

from prometheus_client.parser import text_string_to_metric_families

from tradeloop.core import Event, IdFactory, Lane, LaneCapacity, MessageBus, SimulatedClock


class KillSwitchPressed(Event, frozen=True, kw_only=True, gc=False):
    LANE: ClassVar[Lane] = Lane.CRITICAL


class SignalRaised(Event, frozen=True, kw_only=True, gc=False):
    LANE: ClassVar[Lane] = Lane.HIGH
    n: int = 0


class DashboardPinged(Event, frozen=True, kw_only=True, gc=False):
    LANE: ClassVar[Lane] = Lane.LOW
    n: int = 0


def make_bus(*, auto_drain: bool = True, normal: int = 100, low: int = 100) -> MessageBus:
    return MessageBus(
        SimulatedClock(1_000),
        IdFactory(11),
        capacity=LaneCapacity(normal=normal, low=low),
        auto_drain=auto_drain,
    )


class Scrape:
    """The samples of one exposition text, looked up by name and labels."""

    def __init__(self, text: bytes | str) -> None:
        self.text = text.decode() if isinstance(text, bytes) else text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        self.families: set[str] = set()  # family names (counters without ``_total``)
        for family in text_string_to_metric_families(self.text):
            if not family.name.endswith("_created"):  # prometheus_client's creation times
                self.families.add(family.name)
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    @property
    def names(self) -> set[str]:
        """Every sample name served (``_total``, ``_bucket``... included)."""
        return {name for name, _ in self.samples}

    def value(self, name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        if key not in self.samples:
            served = sorted(str(dict(k[1])) for k in self.samples if k[0] == name)
            raise AssertionError(f"{name}{labels} is not served; served label sets: {served}")
        return self.samples[key]

    def labels_of(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for sample_name, labels in self.samples if sample_name == name]
