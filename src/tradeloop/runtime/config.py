"""The backtest node's configuration: one frozen pydantic model composed of component configs.

Load it with :func:`tradeloop.config.load_config` (YAML, ``TRADELOOP_`` environment variables,
``--set`` overrides). ``tradeloop schema`` prints its JSON schema for editors.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradeloop.core.ids import instrument_id
from tradeloop.lifecycle.methods import LifecycleConfig
from tradeloop.model.data import BarSpec
from tradeloop.model.objects import CURRENCY_PRECISION
from tradeloop.risk.config import RiskConfig

__all__ = [
    "BacktestConfig",
    "LoggingSettings",
    "NodeSettings",
    "PaperConfig",
    "VenueLinkSettings",
    "StoreSettings",
    "DataConfig",
    "InstrumentConfig",
    "LogConfig",
    "ReportConfig",
    "RunConfig",
    "StrategyEntry",
    "SyntheticConfig",
    "VenueSettings",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InstrumentConfig(_Frozen):
    """An instrument for file or synthetic data (the sample data brings its own)."""

    id: str
    type: Literal["equity", "crypto_spot", "fx", "future", "event_contract"] = "equity"
    currency: str = "USD"
    tick: Decimal | None = None
    lot: Decimal | None = None
    multiplier: int = Field(1, ge=1)
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal(0)
    expiry: str | None = None
    """When a future or event contract expires or settles (ISO-8601 with a zone)."""

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return instrument_id(value)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCY_PRECISION:
            raise ValueError(f"unknown currency {value!r}; known: {', '.join(sorted(CURRENCY_PRECISION))}")
        return value

    @field_validator("expiry", mode="before")
    @classmethod
    def _expiry_text(cls, value: Any) -> Any:
        return _iso_text(value)

    @model_validator(mode="after")
    def _settings_of_its_type(self) -> InstrumentConfig:
        # Refused rather than ignored: a setting the instrument type has no use for is a mistake.
        if self.lot is not None and self.type in ("future", "event_contract"):
            raise ValueError(f"lot applies to equity, crypto_spot and fx, not to {self.type}")
        if self.multiplier != 1 and self.type != "future":
            raise ValueError(f"multiplier applies to future only, not to {self.type}")
        return self


def _iso_text(value: Any) -> Any:
    """YAML reads an unquoted ``2024-01-02T00:00:00Z`` as a datetime: take it back as text."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


class SyntheticConfig(_Frozen):
    """A seeded random walk of bars."""

    count: int = Field(100_000, ge=1)
    seed: int = Field(1, ge=0)
    start_price: Decimal = Field(Decimal(100), gt=0, decimal_places=9)
    volatility: float = Field(0.001, gt=0, lt=1)
    # The log price's move per bar: beyond +-0.1 a bar, prices leave any market's range fast.
    drift: float = Field(0.0, ge=-0.1, le=0.1, allow_inf_nan=False)
    start: str = "2024-01-02T00:00:00Z"

    @field_validator("start", mode="before")
    @classmethod
    def _start_text(cls, value: Any) -> Any:
        return _iso_text(value)


class DataConfig(_Frozen):
    """Where the market data comes from."""

    source: Literal["sample", "csv", "parquet", "synthetic"] = "sample"
    kind: Literal["trades", "quotes", "bars"] = "trades"
    path: Path | None = None
    instrument: InstrumentConfig | None = None
    bar_spec: str = "1-MINUTE"
    on_error: Literal["raise", "skip"] = "raise"
    timestamp_unit: Literal["iso", "s", "ms", "us", "ns"] = "iso"
    synthetic: SyntheticConfig = SyntheticConfig()

    @field_validator("bar_spec")
    @classmethod
    def _valid_spec(cls, value: str) -> str:
        BarSpec.parse(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        if self.source in ("csv", "parquet"):
            if self.path is None:
                raise ValueError(f"data.path is required for source '{self.source}'")
            if self.instrument is None:
                raise ValueError(f"data.instrument is required for source '{self.source}'")
        if self.source == "synthetic" and self.instrument is None:
            raise ValueError("data.instrument is required for source 'synthetic'")
        return self


class VenueSettings(_Frozen):
    """The simulated venue (paper and backtest)."""

    starting_balance: Decimal = Field(Decimal(1_000_000), gt=0)
    currency: str = "USD"
    account_type: Literal["CASH", "MARGIN"] = "MARGIN"
    leverage: Decimal = Field(Decimal(1), ge=1)
    latency_ms: Decimal = Field(Decimal(0), ge=0)
    latency_jitter_ms: Decimal = Field(Decimal(0), ge=0)
    max_volume_participation: Decimal | None = Field(None, gt=0, le=1)
    slippage_ticks: int = Field(0, ge=0, le=1_000_000)
    maker_fee: Decimal | None = Field(None, gt=-1, lt=1)
    taker_fee: Decimal | None = Field(None, gt=-1, lt=1)
    seed: int = Field(0, ge=0)


class StrategyEntry(_Frozen):
    """A strategy class (``package.module:ClassName``) and its settings."""

    class_path: str = Field(alias="class")
    config: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("class_path")
    @classmethod
    def _shape(cls, value: str) -> str:
        module, _, name = value.replace(":", ".").rpartition(".")
        if not module or not name:
            raise ValueError(f"expected 'package.module:ClassName', got {value!r}")
        return value


class LogConfig(_Frozen):
    enabled: bool = True
    batch_size: int = Field(20_000, ge=1)


class ReportConfig(_Frozen):
    enabled: bool = True
    equity_sample_seconds: int = Field(60, ge=0)


class RunConfig(_Frozen):
    name: str = "backtest"
    seed: int = Field(0, ge=0)
    output_dir: Path = Path("output")


class BacktestConfig(_Frozen):
    """Everything a backtest needs."""

    run: RunConfig = RunConfig()
    data: DataConfig = DataConfig()
    venue: VenueSettings = VenueSettings()
    strategies: list[StrategyEntry] = Field(min_length=1)
    risk: RiskConfig = RiskConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    log: LogConfig = LogConfig()
    report: ReportConfig = ReportConfig()


class StoreSettings(_Frozen):
    """The node's event store: every message, captured before its handlers run.

    Parameters
    ----------
    backend:
        ``sqlite`` (embedded, no server) or ``postgres``.
    path:
        The SQLite file (default: ``<run.output_dir>/<run.name>/store.sqlite``).
    dsn:
        The PostgreSQL connection string (``postgresql://user@host:5432/db``); needed for it.
    schema_name:
        The PostgreSQL schema that holds the tables.
    durability:
        ``event`` (each message committed and synced before handlers run on), ``batch``
        (committed per ``batch_size`` messages and at least once a second) or ``interval``
        (also every ``interval_seconds``). See :mod:`tradeloop.runtime.recording`.
    """

    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: Path | None = None
    dsn: str | None = None
    schema_name: str = "tradeloop"
    durability: Literal["event", "batch", "interval"] = "batch"
    batch_size: int = Field(10_000, ge=1)
    interval_seconds: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _dsn_for_postgres(self) -> StoreSettings:
        if self.backend == "postgres" and not self.dsn:
            raise ValueError("node.store.dsn is required for the postgres backend")
        return self


class VenueLinkSettings(_Frozen):
    """Where the node's market data and execution come from.

    ``local`` (the default): the configured data replayed on the live clock into an in-process
    simulated venue. ``remote``: a venue server (:mod:`tradeloop.venues.simulated.server`)
    listening on ``socket`` serves both, in lock-step, and the node recovers from its event
    store after a crash (:mod:`tradeloop.runtime.recovery`); the store must be SQLite.
    """

    mode: Literal["local", "remote"] = "local"
    socket: Path | None = None

    @model_validator(mode="after")
    def _socket_for_remote(self) -> VenueLinkSettings:
        if self.mode == "remote" and self.socket is None:
            raise ValueError("node.venue.socket is required when node.venue.mode is 'remote'")
        return self


class NodeSettings(_Frozen):
    """How a paper (or live) node runs.

    Parameters
    ----------
    speed:
        Replay speed of recorded market data: ``1`` is wall-clock speed, ``60`` an hour a
        minute. The node's clock starts at the data's first timestamp and runs this fast.
    metrics_port:
        Port of the ``/metrics`` and ``/health`` endpoint (``0``: any free port; ``null``: off).
    metrics_host:
        Interface the endpoint listens on.
    health_interval_seconds:
        How often services are health-checked.
    on_shutdown:
        What happens to working orders when the node stops: ``cancel`` them or ``keep`` them.
    shutdown_timeout_seconds:
        How long a graceful stop may take before the node exits anyway.
    watch_config:
        Reload the config file when it changes (validated, applied live, or rejected).
    store:
        The event store (see :class:`StoreSettings`); ``log.enabled: false`` turns recording off.
    venue:
        A local simulated venue or a remote venue server (see :class:`VenueLinkSettings`).
    retain_closed:
        Closed orders, closed positions and equity points kept in memory (the newest); older
        ones are forgotten every few seconds so a node that runs for weeks stays bounded.
        Totals such as realized P&L are kept; the event log has everything.
    """

    speed: float = Field(1.0, gt=0, allow_inf_nan=False)
    metrics_port: int | None = Field(9108, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    health_interval_seconds: float = Field(5.0, gt=0)
    on_shutdown: Literal["cancel", "keep"] = "cancel"
    shutdown_timeout_seconds: float = Field(10.0, gt=0)
    watch_config: bool = True
    retain_closed: int = Field(1_000, ge=0)
    store: StoreSettings = StoreSettings()
    venue: VenueLinkSettings = VenueLinkSettings()


class LoggingSettings(_Frozen):
    """Structured logs: ``format`` json or text, a root ``level`` and per-component ``levels``
    (``{"tradeloop.risk": "DEBUG"}``); the levels can change while the node runs."""

    format: Literal["json", "text"] = "text"
    level: str = "INFO"
    levels: dict[str, str] = Field(default_factory=dict)

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return _level(value)

    @field_validator("levels")
    @classmethod
    def _known_levels(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: _level(level) for name, level in value.items()}


def _level(value: str) -> str:
    upper = value.upper()
    if upper not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"unknown log level {value!r} (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
    return upper


class PaperConfig(BacktestConfig):
    """A paper-trading node: a backtest config plus how the node runs and logs."""

    node: NodeSettings = NodeSettings()
    logging: LoggingSettings = LoggingSettings()
