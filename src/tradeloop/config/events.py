"""Events of configuration hot reload: a change applied, or a change refused.

A running node watches its YAML file. Each edit that changes something ends in exactly one of
these: :class:`ConfigReloaded` (every component concerned took the change, and a snapshot of
the new config was written) or :class:`ConfigRejected` (nothing took it; the running config
stays in force). Keys are dotted paths as written in the YAML file (``risk.max_order_quantity``,
``strategies.0.config.fast``).
"""

from __future__ import annotations

from tradeloop.core.errors import ValueRangeError
from tradeloop.core.message import Event

__all__ = ["ConfigRejected", "ConfigReloaded"]


class ConfigReloaded(Event, frozen=True, kw_only=True, gc=False):
    """A changed config file was loaded, validated, snapshotted and applied.

    Parameters
    ----------
    path:
        The config file.
    changed:
        The dotted paths of the values that changed, in the order of the config.
    snapshot_id:
        The number of the snapshot that now holds the config in force (``tradeloop config
        rollback --to`` takes it).
    snapshot_path:
        That snapshot's file.
    """

    path: str
    changed: tuple[str, ...]
    snapshot_id: int
    snapshot_path: str

    def __post_init__(self) -> None:
        if not self.changed:
            raise ValueRangeError("ConfigReloaded needs at least one changed key")
        if self.snapshot_id < 1:
            raise ValueRangeError(f"ConfigReloaded: snapshot ids start at 1, got {self.snapshot_id}")


class ConfigRejected(Event, frozen=True, kw_only=True, gc=False):
    """A config file change was refused; the config in force did not change at all.

    Parameters
    ----------
    path:
        The config file.
    errors:
        One line per problem, each naming the key (or the file and line) and the reason: a YAML
        or validation error, a setting that cannot change while the node runs, or the
        component that refused the new value.
    changed:
        The dotted paths the refused file would have changed (empty when it could not be
        loaded at all).
    """

    path: str
    errors: tuple[str, ...]
    changed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.errors:
            raise ValueRangeError("ConfigRejected needs at least one error")
