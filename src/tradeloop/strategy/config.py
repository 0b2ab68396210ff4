"""Strategy configuration: a frozen pydantic model per strategy class."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrategyConfig"]


class StrategyConfig(BaseModel):
    """Base of every strategy's settings. Subclass it and add typed fields.

    ``strategy_id`` defaults to the class name with ``-001``; two strategies in one node need
    distinct ids.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy_id: str | None = None
