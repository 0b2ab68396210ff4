"""Config snapshots: every config a node ran with, numbered, in a folder of YAML files.

A running node's reloader saves the config it starts with (unless the latest snapshot already
holds it) and every change it applies, so ``tradeloop config rollback`` can write an earlier
one back to the config file. The default folder sits beside the config file:
``<config dir>/.tradeloop-snapshots/<config file stem>/``.

Each snapshot is one file, ``000001.yaml``, ``000002.yaml``..., holding a header and the config
as the node validated it (defaults filled in, environment and ``--set`` overrides applied)::

    snapshot:
      id: 2
      taken_ns: 1718000000000000000
      taken: '2024-06-10T06:13:20.000000000Z'
      source: /srv/node/paper.yaml
    config:
      risk:
        max_order_quantity: '100'
        ...

Decimals are written as quoted strings so they read back exactly. Files are written to a
temporary name and renamed into place, so a reader never sees half a snapshot. One node writes
a folder; readers (the CLI) may read it at any time.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from tradeloop.config.loader import load_yaml
from tradeloop.core.errors import ConfigError
from tradeloop.core.secrets import REDACTED, redact_dsn

__all__ = [
    "SNAPSHOT_FOLDER",
    "Snapshot",
    "SnapshotStore",
    "config_data",
    "default_snapshot_dir",
    "format_ts",
    "write_text_atomic",
]

SNAPSHOT_FOLDER = ".tradeloop-snapshots"
"""Name of the folder, beside a config file, that holds its snapshots by default."""

_NAME = re.compile(r"^(\d+)\.yaml$")
_NANOS = 1_000_000_000


def default_snapshot_dir(config_path: Path | str) -> Path:
    """``<config dir>/.tradeloop-snapshots/<config file stem>/`` for a config file."""
    p = Path(config_path)
    return p.parent / SNAPSHOT_FOLDER / p.stem


def format_ts(ts_ns: int) -> str:
    """UTC ISO-8601 with nanoseconds: ``2024-06-10T06:13:20.000000000Z``."""
    seconds, nanos = divmod(ts_ns, _NANOS)
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def config_data(config: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """A config as plain YAML-ready data: keys as written in YAML (aliases), decimals and paths
    as strings, so writing and reading it back loses nothing."""
    if isinstance(config, BaseModel):
        return config.model_dump(mode="json", by_alias=True)
    return dict(config)


def write_text_atomic(path: Path | str, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (temporary file in the same folder, then
    ``os.replace``): a watcher or reader sees the old content or the new, never a mix. An
    existing file's permissions are kept."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # durable before it becomes visible under the real name
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SECRET_KEYS = frozenset({"dsn"})
"""Keys whose values hold a password (a database connection string)."""


def _redacted(data: Any) -> Any:
    """``data`` with the passwords of its connection strings replaced by ``***``: a snapshot
    is a file, and a DSN given in the environment must not end up in one."""
    if isinstance(data, dict):
        return {
            k: redact_dsn(v) if k in _SECRET_KEYS and isinstance(v, str) else _redacted(v)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_redacted(v) for v in data]
    return data


def _unredacted(data: Any, current: Any) -> Any:
    """A snapshot's data to write back over ``current`` (the file as it is): a redacted
    connection string takes the file's own value, or is left out (the environment that gave
    it supplies it again)."""
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        here = current if isinstance(current, dict) else {}
        for k, v in data.items():
            if k in _SECRET_KEYS and isinstance(v, str) and REDACTED in v:
                if isinstance(here.get(k), str):
                    out[k] = here[k]
                continue
            out[k] = _unredacted(v, here.get(k))
        return out
    if isinstance(data, list):
        mine = current if isinstance(current, list) else []
        return [_unredacted(v, mine[i] if i < len(mine) else None) for i, v in enumerate(data)]
    return data


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One saved config.

    Attributes
    ----------
    id:
        Its number (1, 2, ...), from the file name.
    ts_ns:
        When it was taken, on the clock of the node that took it.
    path:
        Its file.
    source:
        The config file it was taken from (empty if not recorded).
    config:
        The config, as plain YAML data.
    """

    id: int
    ts_ns: int
    path: Path
    source: str
    config: dict[str, Any]

    @property
    def taken(self) -> str:
        """:attr:`ts_ns` as UTC ISO-8601."""
        return format_ts(self.ts_ns)


class SnapshotStore:
    """A folder of numbered config snapshots.

    Parameters
    ----------
    folder:
        Where the snapshots live; created by the first :meth:`save`.
    """

    def __init__(self, folder: Path | str) -> None:
        self._folder = Path(folder)

    @classmethod
    def for_config(cls, config_path: Path | str) -> SnapshotStore:
        """The store in the default folder of a config file (:func:`default_snapshot_dir`)."""
        return cls(default_snapshot_dir(config_path))

    @property
    def folder(self) -> Path:
        return self._folder

    def _file(self, n: int) -> Path:
        return self._folder / f"{n:06d}.yaml"

    def ids(self) -> list[int]:
        """The snapshot numbers, ascending (empty when the folder does not exist)."""
        if not self._folder.is_dir():
            return []
        found = []
        for entry in self._folder.iterdir():
            match = _NAME.match(entry.name)
            if match is not None and entry.is_file():
                found.append(int(match.group(1)))
        return sorted(found)

    def all(self) -> list[Snapshot]:
        """Every snapshot, oldest first."""
        return [self._read(n) for n in self.ids()]

    def latest(self) -> Snapshot | None:
        """The newest snapshot, or ``None`` when there is none."""
        ids = self.ids()
        return self._read(ids[-1]) if ids else None

    def get(self, n: int) -> Snapshot:
        """Snapshot ``n``.

        Raises
        ------
        ConfigError
            When the folder or the snapshot does not exist (naming the ones that do), or
            the file is not a snapshot.
        """
        if not self._folder.is_dir():
            raise ConfigError(f"{self._folder}: no snapshot folder (a node with hot reload creates it)")
        ids = self.ids()
        if n not in ids:
            have = ", ".join(map(str, ids)) if ids else "none"
            raise ConfigError(f"{self._folder}: no snapshot {n} (snapshots: {have})")
        return self._read(n)

    def _read(self, n: int) -> Snapshot:
        path = self._file(n)
        data = load_yaml(path)
        meta = data.get("snapshot")
        config = data.get("config")
        if not isinstance(meta, dict) or not isinstance(config, dict):
            raise ConfigError(f"{path}: not a config snapshot (needs 'snapshot' and 'config' mappings)")
        ts_ns = meta.get("taken_ns")
        if not isinstance(ts_ns, int) or isinstance(ts_ns, bool):
            raise ConfigError(f"{path}: snapshot.taken_ns must be an integer (nanoseconds), got {ts_ns!r}")
        source = meta.get("source", "")
        return Snapshot(n, ts_ns, path, source if isinstance(source, str) else str(source), config)

    def save(self, config: BaseModel | Mapping[str, Any], *, ts_ns: int, source: Path | str = "") -> Snapshot:
        """Write ``config`` as the next snapshot and return it.

        Parameters
        ----------
        config:
            A config model (dumped as :func:`config_data` does) or plain data.
        ts_ns:
            When it was taken (from the caller's clock).
        source:
            The config file it came from.

        Raises
        ------
        OSError
            When the folder or the file cannot be written (nothing is left behind).
        """
        data = _redacted(config_data(config))
        ids = self.ids()
        n = ids[-1] + 1 if ids else 1
        self._folder.mkdir(parents=True, exist_ok=True)
        meta = {"id": n, "taken_ns": ts_ns, "taken": format_ts(ts_ns), "source": str(source)}
        text = yaml.safe_dump(
            {"snapshot": meta, "config": data}, sort_keys=False, allow_unicode=True, default_flow_style=False
        )
        path = self._file(n)
        write_text_atomic(path, text)
        return Snapshot(n, ts_ns, path, str(source), data)

    def discard(self, n: int) -> None:
        """Remove snapshot ``n`` (a config that was saved but never came into force)."""
        self._file(n).unlink(missing_ok=True)

    def restore(self, n: int, target: Path | str) -> Snapshot:
        """Write snapshot ``n``'s config to ``target`` (atomically) and return the snapshot.

        A node watching ``target`` then loads it like any edit: the restored config is
        validated and applied, or refused, and becomes a new snapshot.

        Raises
        ------
        ConfigError
            As :meth:`get` does.
        """
        snapshot = self.get(n)
        header = (
            f"# restored from config snapshot {snapshot.id} (taken {snapshot.taken})\n"
            f"# by `tradeloop config rollback`; snapshots: {self._folder}\n"
        )
        current = load_yaml(target) if Path(target).is_file() else {}
        config = _unredacted(snapshot.config, current)
        body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)
        write_text_atomic(target, header + body)
        return snapshot
