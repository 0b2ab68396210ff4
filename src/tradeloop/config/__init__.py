"""Configuration: loading (YAML, environment and command-line overrides, clear errors), diffs,
snapshots and the events of hot reload."""

from tradeloop.config.diff import MISSING, Change, changed_keys, diff, is_under, value_at
from tradeloop.config.events import ConfigRejected, ConfigReloaded
from tradeloop.config.loader import (
    ENV_PREFIX,
    apply_env_overrides,
    apply_overrides,
    format_validation_error,
    load_config,
    load_yaml,
    parse_override,
)
from tradeloop.config.snapshots import (
    SNAPSHOT_FOLDER,
    Snapshot,
    SnapshotStore,
    config_data,
    default_snapshot_dir,
    format_ts,
    write_text_atomic,
)

__all__ = [
    "ENV_PREFIX",
    "MISSING",
    "SNAPSHOT_FOLDER",
    "Change",
    "ConfigRejected",
    "ConfigReloaded",
    "Snapshot",
    "SnapshotStore",
    "apply_env_overrides",
    "apply_overrides",
    "changed_keys",
    "config_data",
    "default_snapshot_dir",
    "diff",
    "format_ts",
    "format_validation_error",
    "is_under",
    "load_config",
    "load_yaml",
    "parse_override",
    "value_at",
    "write_text_atomic",
]
