"""From a :class:`~tradeloop.runtime.config.BacktestConfig` to a finished, reported run."""

from __future__ import annotations

import importlib
import inspect
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args, get_type_hints

from pydantic import ValidationError

from tradeloop.analysis.records import RunInfo
from tradeloop.analysis.report import ReportPaths, write_report
from tradeloop.config.loader import format_validation_error
from tradeloop.core.clock import NANOS_PER_MILLI, NANOS_PER_SECOND
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.message import Data
from tradeloop.data.columns import FileFormat
from tradeloop.data.loaders import load_bars, load_quote_ticks, load_trade_ticks
from tradeloop.data.sample import load_sample_trades, sample_instrument
from tradeloop.data.synthetic import generate_bars
from tradeloop.model.data import BarSpec
from tradeloop.model.instruments import (
    BinaryEventContract,
    CryptoSpot,
    Equity,
    FuturesContract,
    FxPair,
    Instrument,
)
from tradeloop.model.objects import Money
from tradeloop.runtime.backtest import BacktestEngine, BacktestResult, ProgressCallback
from tradeloop.runtime.config import (
    BacktestConfig,
    DataConfig,
    InstrumentConfig,
    StrategyEntry,
    VenueSettings,
)
from tradeloop.runtime.kernel import Kernel
from tradeloop.strategy.config import StrategyConfig
from tradeloop.strategy.strategy import Strategy
from tradeloop.venues.simulated import AccountType, FeeModel, FillModel, LatencyModel, SimulatedVenueConfig

__all__ = [
    "SAMPLE_CONFIG",
    "LoadedData",
    "RunOutcome",
    "build_engine",
    "configure_kernel",
    "load_data",
    "load_strategy",
    "strategy_class",
    "strategy_config",
    "run_backtest",
]

SAMPLE_CONFIG = """\
# tradeloop sample backtest: E-mini S&P 500 futures trades (2013-09-01..03, shipped with the
# package), aggregated to one-minute bars, traded by a moving-average crossover.
run:
  name: es-crossover
  seed: 42
  output_dir: output
data:
  source: sample            # sample | csv | parquet | synthetic
venue:
  starting_balance: 1000000
  currency: USD
  account_type: MARGIN
  leverage: 10
  latency_ms: 1
  taker_fee: 0.000025       # ~2 USD a contract at 1,640 x 50
  maker_fee: 0.000025
strategies:
  - class: tradeloop.strategy.samples:MovingAverageCrossover
    config:
      instrument_id: ES.CME
      bar_spec: 1-MINUTE
      fast: 10
      slow: 30
      quantity: 2
      method: trend
lifecycle:
  methods:
    trend:                      # the crossover's positions: a stop loss and a trailing stop
      monitor:
        interval_seconds: 30
        urgent_interval_seconds: 5
        urgent_band_pct: 0.05
        price_ttl_seconds: 10
      exits:
        stop_loss_pct: 0.15     # ~2.5 index points on ES at 1,640
        trailing_stop:
          activation_pct: 0.05
          distance_pct: 0.1
risk:
  max_position_quantity: 10
  max_order_rate: 10
  rate_interval_seconds: 1
  max_daily_loss: 50000
log:
  enabled: true
report:
  enabled: true
  equity_sample_seconds: 60
"""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    result: BacktestResult
    report: ReportPaths | None
    output_dir: Path
    skipped_rows: dict[str, int]
    """Data rows the loader skipped, per reason (only with ``data.on_error: skip``)."""


def make_instrument(cfg: InstrumentConfig) -> Instrument:
    """Build an instrument from its config (unset tick/lot take the type's defaults)."""
    extra: dict[str, Any] = {}
    if cfg.tick is not None:
        extra["tick"] = str(cfg.tick)
    fees = {"maker_fee": str(cfg.maker_fee), "taker_fee": str(cfg.taker_fee)}
    expiry = None if cfg.expiry is None else _parse_time(cfg.expiry, "data.instrument.expiry")
    try:
        if cfg.type == "equity":
            lot_text = "1" if cfg.lot is None else str(cfg.lot)
            return Equity(cfg.id, currency=cfg.currency, lot=lot_text, **extra, **fees)
        if cfg.type == "crypto_spot":
            lot = {"lot": str(cfg.lot)} if cfg.lot is not None else {}
            return CryptoSpot(cfg.id, quote_currency=cfg.currency, **extra, **lot, **fees)
        if cfg.type == "fx":
            lot = {"lot": str(cfg.lot)} if cfg.lot is not None else {}
            return FxPair(cfg.id, quote_currency=cfg.currency, **extra, **lot, **fees)
        if cfg.type == "future":
            tick = extra.get("tick", "0.25")
            return FuturesContract(
                cfg.id, currency=cfg.currency, multiplier=cfg.multiplier, tick=tick, expiry_ns=expiry, **fees
            )
        return BinaryEventContract(cfg.id, currency=cfg.currency, expiry_ns=expiry, **fees)
    except TradeloopError as exc:
        raise ConfigError(f"data.instrument: {exc}") from None


def _parse_time(text: str, key: str) -> int:
    """An ISO-8601 time with a zone, as UNIX nanoseconds; ``key`` names the setting in errors."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{key}: not an ISO-8601 time: {text!r}") from None
    if dt.tzinfo is None:
        raise ConfigError(f"{key}: give a time zone (e.g. 'Z'): {text!r}")
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1_000  # exact, also before 1970


def _parse_start(text: str) -> int:
    return _parse_time(text, "data.synthetic.start")


@dataclass(frozen=True, slots=True)
class LoadedData:
    """The market data of a run, its instrument, and the rows skipped (``on_error: skip``)."""

    instrument: Instrument
    data: list[Data]
    skipped: dict[str, int]


def load_data(cfg: DataConfig) -> LoadedData:
    """The instrument and market data the config names."""
    if cfg.source == "sample":
        return LoadedData(sample_instrument(), list(load_sample_trades()), {})
    assert cfg.instrument is not None  # the config validator guarantees it
    instrument = make_instrument(cfg.instrument)
    spec = BarSpec.parse(cfg.bar_spec)
    if cfg.source == "synthetic":
        s = cfg.synthetic
        bars = generate_bars(
            instrument,
            s.count,
            start_ns=_parse_start(s.start),
            spec=spec,
            seed=s.seed,
            start_price=s.start_price,
            volatility=s.volatility,
            drift=s.drift,
        )
        return LoadedData(instrument, list(bars), {})
    assert cfg.path is not None
    epoch = None if cfg.timestamp_unit == "iso" else cfg.timestamp_unit
    fmt: FileFormat = "csv" if cfg.source == "csv" else "parquet"
    if cfg.kind == "trades":
        loaded: Any = load_trade_ticks(
            cfg.path, instrument, file_format=fmt, epoch_unit=epoch, on_error=cfg.on_error
        )
    elif cfg.kind == "quotes":
        loaded = load_quote_ticks(
            cfg.path, instrument, file_format=fmt, epoch_unit=epoch, on_error=cfg.on_error
        )
    else:
        loaded = load_bars(
            cfg.path, instrument, spec, file_format=fmt, epoch_unit=epoch, on_error=cfg.on_error
        )
    return LoadedData(instrument, list(loaded.data), dict(loaded.skipped))


def strategy_class(entry: StrategyEntry) -> tuple[type[Strategy], type[StrategyConfig]]:
    """The strategy class ``package.module:ClassName`` names, and its config class."""
    path = entry.class_path
    module_name, sep, class_name = path.partition(":")
    if not sep:
        module_name, _, class_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"strategies: cannot import {module_name!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's module failed while importing
        raise ConfigError(f"strategies: importing {module_name!r} failed: {_failure(exc)}") from None
    cls = getattr(module, class_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise ConfigError(f"strategies: {path!r} is not a Strategy subclass")
    try:
        hints = get_type_hints(cls.__init__)
    except Exception as exc:  # noqa: BLE001 - an annotation that names nothing importable
        raise ConfigError(
            f"strategies: {path}.__init__ has annotations that do not resolve: {_failure(exc)}"
        ) from None
    config_cls = hints.get("config", StrategyConfig)
    # ``config: MyConfig | None = None`` (the base class's own signature) means ``MyConfig``.
    members = [arg for arg in get_args(config_cls) if arg is not type(None)]
    if len(members) == 1:
        config_cls = members[0]
    if isinstance(config_cls, type) and issubclass(config_cls, StrategyConfig):
        return cls, config_cls
    raise ConfigError(f"strategies: {path!r} must take a StrategyConfig subclass as its config")


def strategy_config(entry: StrategyEntry, index: int | None = None) -> StrategyConfig:
    """The entry's settings, validated by its strategy's config class; errors name the entry
    by its ``index`` in the config's list when it is given."""
    cls, config_cls = strategy_class(entry)
    try:
        return config_cls.model_validate(entry.config)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"{_label(index)} ({cls.__name__}).config")) from None


def _label(index: int | None) -> str:
    return "strategies" if index is None else f"strategies.{index}"


def load_strategy(entry: StrategyEntry, index: int | None = None) -> Strategy:
    """Import ``package.module:ClassName`` and build it with its validated config."""
    cls, _ = strategy_class(entry)
    config = strategy_config(entry, index)
    try:
        return cls(config)
    except Exception as exc:  # noqa: BLE001 - the user's constructor refused its settings or failed
        raise ConfigError(f"strategies: {entry.class_path} could not be built: {_failure(exc)}") from None


def _failure(exc: BaseException) -> str:
    """``Type: message (file:line)``, the line being where in the user's code it was raised."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{type(exc).__name__}: {exc.msg} ({exc.filename}:{exc.lineno})"
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith("<"):  # not importlib's frozen frames, not eval'd text
            where = f" ({filename}:{tb.tb_lineno})"
        tb = tb.tb_next
    return f"{type(exc).__name__}: {exc}{where}"


def venue_config(settings: VenueSettings) -> SimulatedVenueConfig:
    latency = int(settings.latency_ms * NANOS_PER_MILLI)
    jitter = int(settings.latency_jitter_ms * NANOS_PER_MILLI)
    try:
        return SimulatedVenueConfig(
            starting_balances=Money.from_decimal(settings.starting_balance, settings.currency),
            account_type=AccountType(settings.account_type),
            leverage=settings.leverage,
            fill_model=FillModel(
                max_volume_participation=settings.max_volume_participation,
                slippage_ticks=settings.slippage_ticks,
            ),
            fee_model=FeeModel(maker_fee=settings.maker_fee, taker_fee=settings.taker_fee),
            latency_model=LatencyModel(base_ns=latency, jitter_ns=jitter, seed=settings.seed),
        )
    except TradeloopError as exc:
        raise ConfigError(f"venue: {exc}") from None


def build_engine(
    cfg: BacktestConfig, *, event_log: Path | None, loaded: LoadedData | None = None
) -> BacktestEngine:
    """An engine with the config's venue, instrument, data and strategies added."""
    loaded = loaded if loaded is not None else load_data(cfg.data)
    instrument, data = loaded.instrument, loaded.data
    if not data:
        raise ConfigError("data: the source holds no market data")
    engine = BacktestEngine(
        seed=cfg.run.seed,
        risk=cfg.risk,
        event_log=event_log,
        event_log_batch=cfg.log.batch_size,
        equity_sample_ns=cfg.report.equity_sample_seconds * NANOS_PER_SECOND,
        run_id=cfg.run.name,
        lifecycle=cfg.lifecycle,
    )
    configure_kernel(engine, cfg, instrument)
    engine.add_data(data)
    return engine


def configure_kernel(kernel: Kernel, cfg: BacktestConfig, instrument: Instrument) -> None:
    """Add the config's instrument, its venue and its strategies to a kernel (not yet built)."""
    kernel.add_instrument(instrument)
    kernel.add_venue(instrument.venue, venue_config(cfg.venue))
    for i, entry in enumerate(cfg.strategies):
        strategy = load_strategy(entry, i)
        method = strategy.config.method
        if method is not None and method not in cfg.lifecycle.methods:
            known = ", ".join(sorted(cfg.lifecycle.methods)) or "none; add them under lifecycle.methods"
            raise ConfigError(
                f"strategies.{i} ({entry.class_path}).config.method: "
                f"unknown method {method!r} (known: {known})"
            )
        kernel.add_strategy(strategy)


def run_backtest(
    cfg: BacktestConfig, *, output_dir: Path | None = None, progress: ProgressCallback | None = None
) -> RunOutcome:
    """Run the configured backtest; write the event log and the report into the output folder."""
    started = time.perf_counter()
    folder = output_dir if output_dir is not None else cfg.run.output_dir / cfg.run.name
    final_log = folder / "events.sqlite"
    if cfg.data.path is not None:
        # The outputs must never replace the run's own input (a data file named trades.csv in
        # the output folder): refused before anything is written.
        outputs = (final_log, *ReportPaths.in_folder(folder).files())
        data_path = cfg.data.path.resolve()
        clash = next((out for out in outputs if out.resolve() == data_path), None)
        if clash is not None:
            raise ConfigError(
                f"run.output_dir: the run would write {clash} over its input data (data.path); "
                "choose another output folder"
            )
    folder.mkdir(parents=True, exist_ok=True)
    # Write the new log beside the old one and replace it only when the run succeeded: a run
    # that fails (say, on an invalid strategy setting) leaves the previous run's files intact.
    log_path = folder / f".events-{os.getpid()}.sqlite.partial" if cfg.log.enabled else None
    try:
        loaded = load_data(cfg.data)
        engine = build_engine(cfg, event_log=log_path, loaded=loaded)
        result = engine.run(progress=progress)
    except BaseException:
        if log_path is not None:
            log_path.unlink(missing_ok=True)
        raise
    if log_path is not None:
        os.replace(log_path, final_log)
        result.event_log_path = final_log
    # The folder holds one run: what this run does not write (a log, a report) must not be
    # left from an earlier run beside what it does write.
    stale = (() if cfg.log.enabled else (final_log,)) + (
        () if cfg.report.enabled else ReportPaths.in_folder(folder).files()
    )
    for old in stale:
        old.unlink(missing_ok=True)
    report = None
    if cfg.report.enabled:
        info = RunInfo(
            run_id=result.run_id,
            strategy=", ".join(result.strategies),
            instruments=result.instruments,
            start_ns=result.start_ns,
            end_ns=result.end_ns,
            starting_balance=result.starting_balance.as_decimal(),
            currency=result.starting_balance.currency,
            config_summary=_summary(cfg),
            event_log_hash=result.event_log_hash,
            messages=result.messages,
            wall_seconds=round(time.perf_counter() - started, 3),
        )
        report = write_report(folder, info, result.statistics, result.equity, result.trades)
    return RunOutcome(result=result, report=report, output_dir=folder, skipped_rows=loaded.skipped)


def _summary(cfg: BacktestConfig) -> dict[str, str]:
    out = {
        "data.source": cfg.data.source,
        "venue.account_type": cfg.venue.account_type,
        "venue.starting_balance": f"{cfg.venue.starting_balance} {cfg.venue.currency}",
        "venue.latency_ms": str(cfg.venue.latency_ms),
        "venue.maker_fee": "instrument's" if cfg.venue.maker_fee is None else str(cfg.venue.maker_fee),
        "venue.taker_fee": "instrument's" if cfg.venue.taker_fee is None else str(cfg.venue.taker_fee),
        "venue.leverage": str(cfg.venue.leverage),
        "run.seed": str(cfg.run.seed),
    }
    for i, entry in enumerate(cfg.strategies):
        out[f"strategies.{i}"] = entry.class_path
        for key, value in sorted(entry.config.items()):
            out[f"strategies.{i}.config.{key}"] = str(value)
    return out
