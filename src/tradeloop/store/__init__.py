"""Persistence: the run's event log."""

from tradeloop.store.event_log import EventLogRecord, SqliteEventLog, content_hash, read_event_log

__all__ = ["EventLogRecord", "SqliteEventLog", "content_hash", "read_event_log"]
