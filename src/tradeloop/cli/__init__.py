"""The ``tradeloop`` command line."""

from tradeloop.cli.main import app

__all__ = ["app"]
