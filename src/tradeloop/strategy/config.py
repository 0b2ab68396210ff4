"""Strategy configuration: a frozen pydantic model per strategy class."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = ["StrategyConfig"]


class StrategyConfig(BaseModel):
    """Base of every strategy's settings. Subclass it and add typed fields.

    ``strategy_id`` defaults to the class name with ``-001``; two strategies in one node need
    distinct ids. ``method`` names the lifecycle method (``lifecycle.methods`` of the node
    config) that watches and exits the positions this strategy opens with its own orders;
    ``None`` leaves them unwatched. Entries made through ``signal_edge`` name their method
    in the signal.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy_id: str | None = None
    method: str | None = None

    @field_validator("strategy_id")
    @classmethod
    def _printable_id(cls, value: str | None) -> str | None:
        # The id names the strategy's orders, positions and report rows (CSV, HTML, logs).
        if value is not None and (not value or not value.isprintable() or value != value.strip()):
            raise ValueError(f"strategy_id must be printable text without edge spaces, got {value!r}")
        return value
