"""Configuration loading: YAML, environment and command-line overrides, clear errors."""

from tradeloop.config.loader import (
    ENV_PREFIX,
    apply_env_overrides,
    apply_overrides,
    format_validation_error,
    load_config,
    load_yaml,
    parse_override,
)

__all__ = [
    "ENV_PREFIX",
    "apply_env_overrides",
    "apply_overrides",
    "format_validation_error",
    "load_config",
    "load_yaml",
    "parse_override",
]
