"""Configuration hot reload: a running node takes an edited config file without a restart.

:class:`ConfigReloader` watches the node's YAML file. On a change it loads and validates the
file as at start (:func:`~tradeloop.config.load_config`: the same environment and ``--set``
overrides), compares it with the config in force and hands the change to the components that
registered for its keys (:meth:`ConfigReloader.register`). It all happens in two phases, so a
change applies everywhere or nowhere:

1. *Refuse early.* A file that does not load or validate, a change under an immutable prefix
   (the venue, the data source), a change no component takes, or a component whose
   ``prepare`` raises: :class:`~tradeloop.config.ConfigRejected` lists every problem, and
   nothing changed.
2. *Apply.* The new config is snapshotted, then every component concerned commits it. If a
   commit raises, the components that already committed are rolled back (newest first), the
   snapshot is discarded and ``ConfigRejected`` names the failure. Otherwise
   :class:`~tradeloop.config.ConfigReloaded` lists the changed keys and the snapshot.

Appliers, like bus handlers, are synchronous. :meth:`ConfigReloader.reload` runs on the thread
of the node's event loop (the watcher calls it from its task), between two messages, so no
handler sees half of a change.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel
from watchfiles import Change as FileChange
from watchfiles import awatch

from tradeloop.config.diff import MISSING, changed_keys, is_under, value_at
from tradeloop.config.events import ConfigRejected, ConfigReloaded
from tradeloop.config.loader import load_config
from tradeloop.config.snapshots import Snapshot, SnapshotStore, config_data
from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.ids import IdFactory
from tradeloop.core.message import Event
from tradeloop.risk.authorisation import load_blackout_calendar
from tradeloop.risk.config import RiskConfig
from tradeloop.risk.engine import RiskEngine

__all__ = [
    "Applier",
    "CallbackApplier",
    "ConfigReloader",
    "ReloadOutcome",
    "ReloadStatus",
    "RiskApplier",
]

M = TypeVar("M", bound=BaseModel)
M_contra = TypeVar("M_contra", bound=BaseModel, contravariant=True)

_log = logging.getLogger("tradeloop.config")


class Applier(Protocol[M_contra]):
    """A component's part in a reload, for the keys under the prefix it registered.

    Both methods get the whole config before (``old``) and after (``new``). An applier may
    also define ``rollback(old, new)``, which undoes its commit when a later applier's commit
    fails; without one, ``commit(new, old)`` is called instead (the change in reverse).
    """

    def prepare(self, old: M_contra, new: M_contra, /) -> None:
        """Check that ``new`` can be applied and stage it; raise to refuse the change.

        Must not change anything in force: another applier may still refuse.
        """

    def commit(self, old: M_contra, new: M_contra, /) -> None:
        """Put ``new`` in force, all at once."""


class CallbackApplier(Generic[M]):
    """An :class:`Applier` made of functions: ``commit`` and optionally ``prepare`` and
    ``rollback`` (e.g. setting log levels: nothing to check, nothing to stage)."""

    def __init__(
        self,
        commit: Callable[[M, M], None],
        *,
        prepare: Callable[[M, M], None] | None = None,
        rollback: Callable[[M, M], None] | None = None,
    ) -> None:
        self._commit = commit
        self._prepare = prepare
        self._rollback = rollback

    def prepare(self, old: M, new: M, /) -> None:
        if self._prepare is not None:
            self._prepare(old, new)

    def commit(self, old: M, new: M, /) -> None:
        self._commit(old, new)

    def rollback(self, old: M, new: M, /) -> None:
        if self._rollback is not None:
            self._rollback(old, new)
        else:
            self._commit(new, old)


class RiskApplier(Generic[M]):
    """Applies the risk section (``risk`` by default) to a :class:`~tradeloop.risk.RiskEngine`.

    ``prepare`` checks the section is a :class:`~tradeloop.risk.RiskConfig` and reads a
    blackout calendar at a new path (a bad file refuses the change); ``commit`` swaps the
    engine's limits in one step (:meth:`~tradeloop.risk.RiskEngine.update_config`);
    ``rollback`` puts the previous section back.
    """

    def __init__(self, engine: RiskEngine, section: str = "risk") -> None:
        self._engine = engine
        self._section = section

    def _risk(self, config: BaseModel) -> RiskConfig:
        value = value_at(config, self._section)
        if not isinstance(value, RiskConfig):
            raise ConfigError(f"{self._section}: expected a RiskConfig, got {type(value).__name__}")
        return value

    def prepare(self, old: M, new: M, /) -> None:
        risk = self._risk(new)
        path = risk.blackout_calendar
        if path is not None and path != self._engine.config.blackout_calendar:
            load_blackout_calendar(path)

    def commit(self, old: M, new: M, /) -> None:
        self._engine.update_config(self._risk(new))

    def rollback(self, old: M, new: M, /) -> None:
        self._engine.update_config(self._risk(old))


class ReloadStatus(StrEnum):
    """How a reload ended."""

    APPLIED = "APPLIED"
    """The change is in force; ``ConfigReloaded`` was published."""
    REJECTED = "REJECTED"
    """Nothing changed; ``ConfigRejected`` was published."""
    UNCHANGED = "UNCHANGED"
    """The file holds the config in force (e.g. saved without edits); nothing was published."""


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """The result of :meth:`ConfigReloader.reload`.

    Attributes
    ----------
    status:
        Applied, rejected or unchanged.
    changed:
        The dotted keys the file changed (applied or refused).
    errors:
        Why it was refused, one line per problem.
    snapshot:
        The snapshot of the config now in force, when applied.
    """

    status: ReloadStatus
    changed: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    snapshot: Snapshot | None = None

    @property
    def applied(self) -> bool:
        return self.status is ReloadStatus.APPLIED


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__


class ConfigReloader(Generic[M]):
    """Watches a config file and applies its changes to a running node, all or nothing.

    Parameters
    ----------
    path:
        The config file the node was started with.
    model:
        Its config model (the node's frozen pydantic config).
    bus:
        Where :class:`~tradeloop.config.ConfigReloaded` and
        :class:`~tradeloop.config.ConfigRejected` are published.
    clock:
        Stamps the events and the snapshots.
    ids:
        Mints the events' ids.
    snapshots:
        Where each config in force is saved. The config in force at construction is saved
        now unless the latest snapshot already holds it.
    immutable:
        Dotted prefix -> reason, for settings that cannot change while the node runs
        (``{"venue": "the venue cannot change while orders are working"}``).
    overrides:
        The ``--set`` overrides the node was started with; every reload applies them again.
    current:
        The config in force.
    environ:
        The environment read for ``TRADELOOP_`` overrides (``None``: ``os.environ``).

    Raises
    ------
    ConfigError
        When an immutable prefix names no key of ``model``, or the snapshot folder holds a
        file that is not a snapshot.
    """

    def __init__(
        self,
        path: Path | str,
        model: type[M],
        *,
        bus: MessageBus,
        clock: Clock,
        ids: IdFactory,
        snapshots: SnapshotStore,
        immutable: Mapping[str, str] | None = None,
        overrides: Sequence[str] = (),
        current: M,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(current, model):
            raise TradeloopError(f"current must be a {model.__name__}, got {type(current).__name__}")
        self._path = Path(path)
        self._model = model
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._store = snapshots
        self._immutable = dict(immutable or {})
        for prefix in self._immutable:
            self._check_prefix(prefix, "immutable prefix")
        self._overrides = tuple(overrides)
        self._environ = environ
        self._current = current
        self._appliers: dict[str, Applier[M]] = {}
        self._reloading = False
        latest = snapshots.latest()
        if latest is None or changed_keys(latest.config, config_data(current)):
            latest = snapshots.save(current, ts_ns=clock.timestamp_ns(), source=self._path)
        self._snapshot = latest

    # -- setup and reads ---------------------------------------------------------------------

    def _check_prefix(self, prefix: str, what: str) -> None:
        """The first part of ``prefix`` must be a key of the model (catches a misspelling)."""
        head = prefix.split(".", 1)[0]
        fields = self._model.model_fields
        keys = set(fields) | {info.alias for info in fields.values() if info.alias}
        if not prefix or head not in keys:
            raise ConfigError(f"{what} {prefix!r}: {self._model.__name__} has no key {head!r}")

    def register(self, prefix: str, applier: Applier[M]) -> None:
        """Let ``applier`` take every change under the dotted ``prefix`` (``risk``,
        ``lifecycle.methods``, ``strategies.0.config``).

        Appliers are prepared and committed in registration order. A change is applied only
        if every changed key lies under some registered prefix.

        Raises
        ------
        ConfigError
            When the prefix names no key of the model, is already registered, or lies under an
            immutable prefix.
        """
        self._check_prefix(prefix, "applier prefix")
        if prefix in self._appliers:
            raise ConfigError(f"applier prefix {prefix!r} is already registered")
        for fixed in self._immutable:
            if is_under(prefix, fixed):
                raise ConfigError(f"applier prefix {prefix!r} lies under immutable {fixed!r}")
        self._appliers[prefix] = applier

    @property
    def path(self) -> Path:
        return self._path

    @property
    def current(self) -> M:
        """The config in force."""
        return self._current

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot of the config in force."""
        return self._snapshot

    @property
    def snapshots(self) -> SnapshotStore:
        return self._store

    # -- reload ------------------------------------------------------------------------------

    def reload(self) -> ReloadOutcome:
        """Load the file and apply what changed, or refuse it; publishes the outcome.

        Raises
        ------
        TradeloopError
            When called from inside a reload (an applier or a handler of the reload's event).
        """
        if self._reloading:
            raise TradeloopError("reload() was called during a reload")
        self._reloading = True
        try:
            return self._reload()
        finally:
            self._reloading = False

    def _reload(self) -> ReloadOutcome:
        old = self._current
        try:
            new = load_config(self._model, self._path, overrides=self._overrides, environ=self._environ)
        except ConfigError as exc:
            return self._reject(tuple(str(exc).splitlines()), ())
        except Exception as exc:  # noqa: BLE001 - a model validator's bug must not stop the node
            return self._reject((f"{self._path}: cannot load: {type(exc).__name__}: {exc}",), ())
        changed = changed_keys(old, new)
        if not changed:
            return ReloadOutcome(ReloadStatus.UNCHANGED)
        errors = self._refusals(old, new, changed)
        if errors:
            return self._reject(errors, changed)
        appliers = [
            (prefix, applier)
            for prefix, applier in self._appliers.items()
            if any(is_under(key, prefix) or is_under(prefix, key) for key in changed)
        ]
        failures = []
        for prefix, applier in appliers:
            try:
                applier.prepare(old, new)
            except Exception as exc:  # noqa: BLE001 - any refusal refuses the change, never crashes
                failures.append(f"{prefix}: refused: {_reason(exc)}")
        if failures:
            return self._reject(tuple(failures), changed)
        try:
            snapshot = self._store.save(new, ts_ns=self._clock.timestamp_ns(), source=self._path)
        except OSError as exc:
            return self._reject(
                (f"{self._store.folder}: cannot write the snapshot: {_reason(exc)}",), changed
            )
        committed: list[tuple[str, Applier[M]]] = []
        for prefix, applier in appliers:
            try:
                applier.commit(old, new)
            except Exception as exc:  # noqa: BLE001 - undo the others, then report
                _log.exception("config reload: %s failed to commit; rolling back", prefix)
                errors = (f"{prefix}: commit failed: {_reason(exc)}", *self._roll_back(committed, old, new))
                self._store.discard(snapshot.id)
                return self._reject(errors, changed)
            committed.append((prefix, applier))
        self._current = new
        self._snapshot = snapshot
        _log.info("config reloaded from %s (snapshot %d): %s", self._path, snapshot.id, ", ".join(changed))
        self._publish(
            ConfigReloaded,
            path=str(self._path),
            changed=changed,
            snapshot_id=snapshot.id,
            snapshot_path=str(snapshot.path),
        )
        return ReloadOutcome(ReloadStatus.APPLIED, changed, (), snapshot)

    def _refusals(self, old: M, new: M, changed: tuple[str, ...]) -> tuple[str, ...]:
        """Keys that cannot change live: under an immutable prefix, or taken by no applier."""
        errors: list[str] = []
        fixed: set[str] = set()
        for prefix, reason in self._immutable.items():
            hits = [key for key in changed if is_under(key, prefix)]
            # A coarser change (a list that grew) may or may not reach inside the prefix.
            coarse = not hits and any(is_under(prefix, key) for key in changed)
            if coarse and changed_keys(_lookup(old, prefix), _lookup(new, prefix)):
                hits = [prefix]
            errors.extend(f"{key}: cannot change live: {reason}" for key in hits)
            fixed.update(hits)
        for key in changed:
            if key in fixed or any(is_under(key, prefix) for prefix in self._appliers):
                continue
            errors.append(
                f"{key}: cannot change live: no running component applies it (restart to change it)"
            )
        return tuple(errors)

    def _roll_back(self, committed: list[tuple[str, Applier[M]]], old: M, new: M) -> list[str]:
        """Undo the commits done, newest first; returns a line per rollback that failed."""
        failed = []
        for prefix, applier in reversed(committed):
            undo: Any = getattr(applier, "rollback", None)
            try:
                if callable(undo):
                    undo(old, new)
                else:
                    applier.commit(new, old)
            except Exception as exc:  # noqa: BLE001 - keep undoing the others
                _log.exception("config reload: %s failed to roll back", prefix)
                failed.append(f"{prefix}: rollback failed, it may run the new config: {_reason(exc)}")
        return failed

    def _reject(self, errors: tuple[str, ...], changed: tuple[str, ...]) -> ReloadOutcome:
        _log.warning("config change in %s rejected: %s", self._path, "; ".join(errors))
        self._publish(ConfigRejected, path=str(self._path), errors=errors, changed=changed)
        return ReloadOutcome(ReloadStatus.REJECTED, changed, errors)

    def _publish(self, kind: type[Event], **fields: Any) -> None:
        now = self._clock.timestamp_ns()
        event = kind(
            id=self._ids.new_id(),
            correlation_id=self._ids.new_id(),  # a reload starts its own chain
            ts_event=now,
            ts_init=now,
            **fields,
        )
        self._bus.publish(event)

    # -- watching ----------------------------------------------------------------------------

    async def _settled(self, settle_ms: int) -> bool:
        """Wait until the file keeps its size and modification time for ``settle_ms``;
        ``False`` when it is missing."""
        seen = _stat_key(self._path)
        while seen is not None:
            await asyncio.sleep(settle_ms / 1000)
            now = _stat_key(self._path)
            if now == seen:
                return True
            seen = now
        return False

    async def watch(
        self,
        *,
        stop: asyncio.Event | None = None,
        ready: asyncio.Event | None = None,
        debounce_ms: int = 1_600,
        step_ms: int = 50,
        settle_ms: int = 500,
    ) -> None:
        """Reload whenever the config file changes, until ``stop`` is set or the task is
        cancelled.

        The file's folder is watched, not the file: editors save to a temporary file and
        rename it over the original, which replaces the file a direct watch would follow.
        Changes are grouped until none arrives for ``step_ms`` (at most ``debounce_ms``), so
        one save is one reload. A batch after which the file is missing (deleted, not yet
        renamed back) is skipped; the next change reloads. The file is read only once it has
        kept its size and modification time for ``settle_ms``: a program that writes it in
        place, in pieces, would otherwise have a cut-off file read (and every limit is
        optional, so a config cut off before a limit is valid and would switch it off). A
        symbolic link is followed: the folder of the file it points to is watched too.

        Parameters
        ----------
        stop:
            Ends the watch when set.
        ready:
            Set once the folder is being watched: a change from then on is seen.

        Raises
        ------
        ConfigError
            When the config file's folder does not exist.
        """
        folder = self._path.parent
        if not folder.is_dir():
            raise ConfigError(f"{self._path}: cannot watch, the folder {folder} does not exist")
        target = self._path.resolve()
        folders = [folder] if target.parent == folder.resolve() else [folder, target.parent]
        names = {self._path.name, target.name}

        def ours(change: FileChange, path: str) -> bool:
            return os.path.basename(path) in names

        if ready is not None:
            # Runs after this task's first step, which creates the OS watch inside awatch()
            # before it first suspends.
            asyncio.get_running_loop().call_soon(ready.set)
        async for _ in awatch(
            *folders,
            watch_filter=ours,
            debounce=debounce_ms,
            step=step_ms,
            stop_event=stop,
            recursive=False,
        ):
            if not await self._settled(settle_ms):
                _log.info("config file %s is gone; waiting for it to come back", self._path)
                continue
            try:
                self.reload()
            except Exception:  # noqa: BLE001 - the watch outlives one failed reload
                _log.exception("config reload of %s failed", self._path)


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _lookup(config: Any, path: str) -> Any:
    try:
        return value_at(config, path)
    except KeyError:
        return MISSING
