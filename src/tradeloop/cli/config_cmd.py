"""``tradeloop config``: the config snapshots of a node with hot reload; list them, roll back.

A node that watches its config file saves every config it runs with as a numbered snapshot
(by default in ``<config dir>/.tradeloop-snapshots/<config file stem>/``). ``rollback`` writes
one back to the config file in one step; the running node's watcher then loads it like any
edit, so it is validated and applied (or refused) and becomes the newest snapshot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from tradeloop.config.diff import changed_keys
from tradeloop.config.loader import format_validation_error
from tradeloop.config.snapshots import SnapshotStore
from tradeloop.core.errors import ConfigError
from tradeloop.runtime.config import PaperConfig

__all__ = ["config_app"]

config_app = typer.Typer(
    name="config",
    help="Config snapshots of a node with hot reload: list them, roll back to one.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_out = Console(emoji=False)  # user text such as ":x:" is printed as written
_err = Console(stderr=True, emoji=False)

ConfigArg = Annotated[Path, typer.Argument(help="The node's YAML config file.")]
SnapshotsOpt = Annotated[
    Path | None,
    typer.Option(
        "--snapshots",
        help="Snapshot folder (default: <config dir>/.tradeloop-snapshots/<config file stem>/).",
    ),
]


def _fail(message: str) -> typer.Exit:
    # As the main app: escaped (paths may hold "[...]"), one line per problem, exit code 2.
    _err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code=2)


def _say(text: str) -> None:
    _out.print(text, highlight=False, markup=False, soft_wrap=True)


def _store(config: Path, folder: Path | None) -> SnapshotStore:
    store = SnapshotStore(folder) if folder is not None else SnapshotStore.for_config(config)
    if not store.folder.is_dir():
        raise _fail(
            f"{store.folder}: no snapshot folder (a node running {config} with hot reload creates it;"
            " pass --snapshots if it keeps them elsewhere)"
        )
    return store


@config_app.command("snapshots")
def snapshots(config: ConfigArg, folder: SnapshotsOpt = None) -> None:
    """List the snapshots: number, time taken (UTC) and the keys changed since the one before."""
    store = _store(config, folder)
    try:
        items = store.all()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if not items:
        _say(f"no snapshots in {store.folder}")
        return
    _say(f"config snapshots in {store.folder}")
    previous = None
    for item in items:
        if previous is None:
            changes = "(first)"
        else:
            changes = ", ".join(changed_keys(previous.config, item.config)) or "(no change)"
        _say(f"{item.id:>4}  {item.taken}  {changes}")
        previous = item


@config_app.command("rollback")
def rollback(
    config: ConfigArg,
    to: Annotated[
        int | None,
        typer.Option("--to", min=1, help="Snapshot number (default: the one before the latest)."),
    ] = None,
    folder: SnapshotsOpt = None,
) -> None:
    """Write a snapshot back to the config file (atomically); a running node then applies it."""
    if not config.is_file():
        raise _fail(f"{config}: config file not found")
    store = _store(config, folder)
    try:
        latest = store.latest()
        if latest is None:
            raise _fail(f"{store.folder}: no snapshots to roll back to")
        if to is None:
            ids = store.ids()
            if len(ids) < 2:
                raise _fail(
                    f"{store.folder}: only snapshot {latest.id} exists; nothing earlier to roll back to"
                )
            to = ids[-2]
        snapshot = store.get(to)
        try:  # a snapshot file edited by hand (or of another program) is not written back
            PaperConfig.model_validate(snapshot.config)
        except ValidationError as exc:
            raise ConfigError(
                f"snapshot {snapshot.id} is not a valid config; {config} is left as it is:\n"
                + format_validation_error(exc, str(snapshot.path))
            ) from None
        restored = store.restore(to, config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{config}: cannot write: {exc.strerror or exc}") from None
    _say(f"restored snapshot {restored.id} (taken {restored.taken}) to {config}")
    if restored.id == latest.id:
        _say(f"snapshot {latest.id} is the latest: the file now holds the config a running node has in force")
    else:
        changes = ", ".join(changed_keys(latest.config, restored.config)) or "none"
        _say(f"changes from the latest snapshot ({latest.id}): {changes}")
