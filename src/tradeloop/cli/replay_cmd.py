"""``tradeloop replay``: feed a node's stored events back, rebuild its state, or ask "what if".

``tradeloop replay STORE`` (the same as ``tradeloop replay run STORE``) replays a time range or
one correlation id and prints the records per type; with ``--rebuild --config CFG`` it also
rebuilds the account, orders and positions from them (instruments and starting balance come
from the config). ``tradeloop replay what-if STORE ORIGINAL CHANGED`` runs the recorded market
data through both configs and prints the outcomes side by side.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperGroup

from tradeloop.cli.events_cmd import ArchiveOpt, check_types, fail, format_ns, open_event_store, parse_time
from tradeloop.config.loader import load_config
from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.errors import TradeloopError
from tradeloop.model.objects import Money
from tradeloop.runtime.config import PaperConfig
from tradeloop.runtime.projection import Projection, ProjectionError, find_account_id
from tradeloop.runtime.replay import ReplayCounts, config_instrument, replay, what_if
from tradeloop.store.port import EventStore

__all__ = ["replay_app"]

_out = Console(emoji=False)  # user text such as ":x:" is printed as written
_err = Console(stderr=True, emoji=False)


class _DefaultRunGroup(TyperGroup):
    """``tradeloop replay STORE ...`` means ``tradeloop replay run STORE ...``: anything but a
    subcommand name (or help) in first place goes to ``run``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: typer's click Context
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


replay_app = typer.Typer(
    name="replay",
    cls=_DefaultRunGroup,
    help="Replay a node's event store: counts per type, a rebuilt state, or a what-if comparison. "
    "`tradeloop replay STORE` is `tradeloop replay run STORE`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

StoreArg = Annotated[Path, typer.Argument(metavar="STORE", help="The node's SQLite event store.")]


def _load(path: Path) -> PaperConfig:
    # A paper node's config is a backtest config plus node settings: it reads both kinds.
    if not path.is_file():
        raise TradeloopError(f"{path}: config file not found")
    return load_config(PaperConfig, path)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]replay[/]"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=_err,
        disable=quiet,
        transient=True,
    )


@replay_app.command("run")
def run(
    store: StoreArg,
    from_: Annotated[
        str | None, typer.Option("--from", help="From this time (ISO-8601, UTC if no zone; inclusive).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Up to this time (exclusive).")] = None,
    correlation: Annotated[
        str | None, typer.Option("--correlation", help="Only one correlation id (one trade's chain).")
    ] = None,
    type_: Annotated[list[str] | None, typer.Option("--type", help="Only this type (repeatable).")] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Also rebuild account, orders and positions (needs --config).")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="The node's config: instruments and starting balance.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    archive: ArchiveOpt = None,
) -> None:
    """Replay the stored events in order: print the records per type (and the rebuilt state)."""
    try:
        from_ts = parse_time(from_, "--from") if from_ is not None else None
        to_ts = parse_time(to, "--to") if to is not None else None
        if from_ts is not None and to_ts is not None and to_ts <= from_ts:
            raise TradeloopError(f"--to ({to}) must be after --from ({from_})")
        types = check_types(type_) if type_ else None
        if rebuild and config is None:
            raise TradeloopError("--rebuild needs --config (the instruments and the starting balance)")
        cfg = _load(config) if config is not None else None
        with open_event_store(store, archive) as event_store, _progress(quiet) as bar:
            projection = _projection(cfg, event_store) if rebuild and cfg is not None else None
            task = bar.add_task("replay", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            counts = replay(
                event_store,
                from_ts=from_ts,
                to_ts=to_ts,
                correlation_id=correlation,
                types=types,
                projection=projection,
                progress=progress,
            )
    except (TradeloopError, ValueError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
    _print_counts(store, counts)
    if projection is not None:
        _print_state(projection)


def _projection(cfg: PaperConfig, store: EventStore) -> Projection:
    instruments = [config_instrument(cfg)]
    try:
        return Projection(
            instruments,
            Money.from_decimal(cfg.venue.starting_balance, cfg.venue.currency),
            find_account_id(store, instruments),
            equity_sample_ns=cfg.report.equity_sample_seconds * NANOS_PER_SECOND,
        )
    except ProjectionError as exc:
        raise TradeloopError(f"--config: {exc}") from None


def _print_counts(store: Path, counts: ReplayCounts) -> None:
    table = Table(title=f"tradeloop replay: {store}", title_justify="left")
    table.add_column("type", style="bold")
    table.add_column("records", justify="right")
    for name, n in counts.counts.items():
        table.add_row(name, f"{n:,}")
    table.add_row("total", f"{counts.total:,}", style="bold")
    _out.print(table)
    if counts.total:
        assert counts.first_ts is not None
        assert counts.last_ts is not None
        _out.print(
            f"seq {counts.first_seq:,} to {counts.last_seq:,}; time {format_ns(counts.first_ts)} to "
            f"{format_ns(counts.last_ts)}; {counts.rate:,.0f} records/s",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    else:
        _out.print("no records match", highlight=False, markup=False)


def _print_state(projection: Projection) -> None:
    state = projection.state()
    statuses = Counter(o.status for o in state.orders)
    table = Table(title="rebuilt state", show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("account", state.account_id),
        ("cash", str(state.cash)),
        ("commissions", str(state.commissions)),
        ("realized P&L (net)", str(state.realized_pnl)),
        ("unrealized P&L", str(state.unrealized_pnl)),
        ("equity", str(state.equity)),
        ("max drawdown", str(state.max_drawdown)),
        ("fills", f"{state.fills:,}"),
        ("orders", ", ".join(f"{n:,} {s}" for s, n in sorted(statuses.items())) or "none"),
        ("positions closed", f"{len(state.positions) - len(state.open_positions):,}"),
        ("positions open", f"{len(state.open_positions):,}"),
        ("records refused", f"{projection.handler_errors:,}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    _out.print(table)
    if projection.partial:
        _out.print("partial: only the filtered records were applied", highlight=False, markup=False)
    if state.open_positions:
        positions = Table(title="open positions", title_justify="left")
        for column in ("position", "side", "quantity", "avg open", "realized"):
            positions.add_column(column, justify="left" if column in ("position", "side") else "right")
        for p in state.open_positions:
            positions.add_row(
                p.position_id, p.side, str(p.quantity), f"{p.avg_px_open:f}", str(p.realized_pnl)
            )
        _out.print(positions)


@replay_app.command("what-if")
def what_if_cmd(
    store: StoreArg,
    original: Annotated[Path, typer.Argument(metavar="ORIGINAL", help="The session's config (YAML).")],
    changed: Annotated[Path, typer.Argument(metavar="CHANGED", help="The changed config (YAML).")],
    archive: ArchiveOpt = None,
) -> None:
    """Run the session's recorded market data through ORIGINAL and CHANGED; compare the outcomes."""
    try:
        original_cfg = _load(original)
        changed_cfg = _load(changed)
        with open_event_store(store, archive) as event_store, _err.status("replaying both configs"):
            report = what_if(event_store, original_cfg, changed_cfg)
    except TradeloopError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
    table = Table(
        title=f"tradeloop what-if: {report.data_count:,} recorded {report.data_kind} of {report.instrument}",
        title_justify="left",
    )
    table.add_column("metric", style="bold")
    table.add_column(original.name, justify="right")
    table.add_column(changed.name, justify="right")
    table.add_column("difference", justify="right")
    for row in report.rows():
        table.add_row(*row)
    _out.print(table)
    _out.print(
        f"from {format_ns(report.start_ns)} to {format_ns(report.end_ns)}; changed: "
        f"{', '.join(report.changed_keys) or 'nothing that steers a replay'}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
