"""``tradeloop``: run backtests and inspect their event logs.

Every command prints a clear message and exits non-zero on bad input (a missing or invalid
config file, an unknown key, malformed data) instead of a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tradeloop import __version__
from tradeloop.cli.config_cmd import config_app
from tradeloop.cli.events_cmd import events_app
from tradeloop.cli.replay_cmd import replay_app
from tradeloop.config.loader import load_config
from tradeloop.core.errors import TradeloopError
from tradeloop.runtime.build import SAMPLE_CONFIG, run_backtest
from tradeloop.runtime.config import BacktestConfig, PaperConfig
from tradeloop.runtime.loadtest import run_loadtest
from tradeloop.runtime.paper import PaperNode
from tradeloop.store.event_log import content_hash

__all__ = ["app"]

app = typer.Typer(
    name="tradeloop",
    help="tradeloop: an event-driven trading engine. One loop for backtest, paper and live trading.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(config_app)
app.add_typer(events_app)
app.add_typer(replay_app)
console = Console(emoji=False)  # user text such as ":x:" is printed as written
err = Console(stderr=True, emoji=False)


def _fail(message: str) -> typer.Exit:
    # Escaped: a path or value may contain "[...]"; soft wrap: one line per problem, not 80 columns.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code=2)


@app.command()
def paper(
    config: Annotated[
        Path | None,
        typer.Argument(help="YAML config file (default: the sample crossover on the shipped ES data)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config key: --set risk.max_daily_loss=500 (repeatable)."),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option("--speed", help="Replay speed of the market data (60: an hour a minute)."),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Port of /metrics and /health (0: any free port).")
    ] = None,
) -> None:
    """Run a paper-trading node: the backtest's components on the live clock, until the data
    ends or SIGINT/SIGTERM (a second signal exits at once). Edits of CONFIG apply live."""
    overrides = list(set_ or [])
    if speed is not None:
        overrides.append(f"node.speed={speed}")
    if metrics_port is not None:
        overrides.append(f"node.metrics_port={metrics_port}")
    try:
        if config is None:
            base = yaml.safe_load(SAMPLE_CONFIG)
            cfg = load_config(PaperConfig, base=base, overrides=["node.speed=60", *overrides])
        else:
            cfg = load_config(PaperConfig, config, overrides=overrides)
        node = PaperNode(cfg, config_path=config, overrides=overrides)
        result = asyncio.run(node.run())
    except TradeloopError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
    table = Table(title=f"tradeloop paper: {cfg.run.name}", show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for name, value in (
        ("stopped by", result.stopped_by),
        ("market data delivered", f"{result.delivered:,}"),
        ("orders", f"{result.orders:,}"),
        ("fills", f"{result.fills:,}"),
        ("final equity", str(result.final_equity)),
        ("realized P&L (net)", str(result.realized_pnl)),
        ("working orders left", str(result.open_orders_at_stop)),
        ("alerts", str(len(result.alerts))),
    ):
        table.add_row(name, value)
    console.print(table)
    if result.event_log_path is not None:
        console.print(f"event log: {result.event_log_path}")


@app.command()
def loadtest(
    rate: Annotated[float, typer.Option("--rate", help="Market-data events per second.")] = 10_000,
    duration: Annotated[float, typer.Option("--duration", help="Seconds to run.")] = 10,
    order_every: Annotated[int, typer.Option("--order-every", help="An order every this many quotes.")] = 100,
) -> None:
    """Drive synthetic quotes at RATE per second through a paper node; print the achieved rate,
    tick-to-order latency percentiles, errors, conflations and memory growth."""
    try:
        report = run_loadtest(rate, duration, order_every=order_every)
    except TradeloopError as exc:
        raise _fail(str(exc)) from None
    table = Table(title="tradeloop loadtest", show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for name, value in report.rows():
        table.add_row(name, value)
    console.print(table)


@app.command()
def backtest(
    config: Annotated[Path, typer.Argument(help="YAML config file (see `tradeloop sample-config`).")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config key: --set risk.max_daily_loss=500 (repeatable)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Report folder (default: run.output_dir/run.name).")
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not write the event log.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a backtest: print a results table, write the report folder and the event log."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    overrides = list(set_ or [])
    if no_log:
        overrides.append("log.enabled=false")
    try:
        cfg = load_config(BacktestConfig, config, overrides=overrides)
        with Progress(
            TextColumn("[bold]backtest[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=quiet,
            transient=True,
        ) as bar:
            task = bar.add_task("run", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            outcome = run_backtest(cfg, output_dir=output, progress=progress)
    except TradeloopError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # an unwritable output folder, a full disk
        raise _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
    result = outcome.result
    table = Table(title=f"tradeloop backtest: {result.run_id}", show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    skipped = outcome.skipped_rows
    rows: list[tuple[str, str]] = [
        ("strategies", ", ".join(result.strategies)),
        ("instruments", ", ".join(result.instruments)),
        ("market data messages", f"{result.data_count:,}"),
        (
            "data rows skipped",
            ", ".join(f"{n:,} {reason}" for reason, n in sorted(skipped.items())) if skipped else "none",
        ),
        ("orders", f"{result.orders:,}"),
        ("fills", f"{result.fills:,}"),
        ("starting balance", str(result.starting_balance)),
        ("final equity", str(result.final_equity)),
        ("realized P&L (net)", str(result.realized_pnl)),
        ("commissions", str(result.commissions)),
    ]
    rows += result.statistics.as_rows()
    rows += [
        ("messages on the bus", f"{result.message_total:,}"),
        ("handler errors", str(result.bus.handler_errors)),
        ("wall time", f"{result.wall_seconds:.2f} s"),
        ("throughput", f"{result.data_count / max(result.wall_seconds, 1e-9):,.0f} msgs/s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if outcome.report is not None:
        console.print(f"report:    {outcome.report.report_html}")
    if result.event_log_path is not None:
        console.print(f"event log: {result.event_log_path}")
        console.print(f"event log hash: {result.event_log_hash}")


@app.command("sample-config")
def sample_config() -> None:
    """Print the sample backtest config (ES futures trades, moving-average crossover)."""
    # Soft wrap: a long comment line hard-wrapped at 80 columns would no longer be valid YAML.
    console.print(SAMPLE_CONFIG, highlight=False, markup=False, end="", soft_wrap=True)


@app.command()
def schema() -> None:
    """Print the JSON schema of the backtest config (for editor completion)."""
    console.print_json(json.dumps(BacktestConfig.model_json_schema(by_alias=True)))


@app.command("log-hash")
def log_hash(path: Annotated[Path, typer.Argument(help="An event log written by a run.")]) -> None:
    """Recompute the content hash of an event log."""
    try:
        console.print(content_hash(path))
    except (TradeloopError, OSError) as exc:
        raise _fail(str(exc)) from None


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


if __name__ == "__main__":  # pragma: no cover
    app()
