"""Loading configuration: YAML file, then environment, then ``--set`` overrides.

Precedence, lowest first: the YAML file, ``TRADELOOP_``-prefixed environment variables (``__``
separates nesting levels: ``TRADELOOP_RISK__MAX_DAILY_LOSS=500`` sets ``risk.max_daily_loss``),
then ``--set key.path=value`` overrides from the command line. Override values are parsed as
YAML scalars (``true``, ``12``, ``0.5``, ``[a, b]``); list items are addressed by index
(``strategies.0.config.fast=5``).

Validation errors name every bad key as a dotted path with pydantic's reason, and the source
(file, environment or override) is part of the message.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tradeloop.core.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "apply_env_overrides",
    "apply_overrides",
    "format_validation_error",
    "load_config",
    "load_yaml",
    "parse_override",
]

ENV_PREFIX = "TRADELOOP_"
M = TypeVar("M", bound=BaseModel)


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (YAML would keep the last
    silently, dropping the first block's settings)."""


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _unique_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        mark = key_node.start_mark
        if key_node.tag == _MERGE_TAG:
            continue  # "<<: *base": merged keys may be overridden here, that is its purpose
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a plain name, not a list or mapping (line {mark.line + 1})", mark
            )
        key = loader.construct_object(key_node)
        if key in seen:
            first = seen[key]
            same = "" if repr(first) == repr(key) else f" (the same key as {first!r})"  # 1 and true
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}{same} (line {mark.line + 1})", mark
            )
        seen[key] = key
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _fresh(value: Any) -> Any:
    """A copy of a loaded tree with no shared parts: YAML anchors and a caller's ``base`` are
    never changed by an override of one place."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


def _merge(below: dict[str, Any], above: Mapping[str, Any]) -> None:
    """Lay ``above`` over ``below`` key by key: mappings merge, anything else replaces."""
    for key, value in above.items():
        under = below.get(key)
        if isinstance(under, dict) and isinstance(value, dict):
            _merge(under, value)
        else:
            below[key] = value


def load_yaml(path: Path | str) -> dict[str, Any]:
    """Read a YAML mapping; raises ``ConfigError`` naming the file (and line) on failure."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror}") from None
    # UTF-8; UTF-16 only with its byte-order mark (what Windows PowerShell's ">" writes).
    encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{p}: not a UTF-8 text file (byte {exc.start + 1}, line {line}); save it as UTF-8"
        ) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{p}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    try:
        data = _fresh(data)
    except RecursionError:
        raise ConfigError(f"{p}: a YAML anchor refers to itself (&name inside its own *name)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def _set_path(data: dict[str, Any], path: list[str], value: Any, source: str) -> None:
    node: Any = data
    for i, key in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not (key.isascii() and key.isdigit()) or int(key) >= len(node):
                raise ConfigError(f"{source}: {'.'.join(path[: i + 1])}: no list item {key}")
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: {'.'.join(path[:i])} is not a mapping, cannot set {key}")
        if last:
            node[key] = value
        else:
            nxt = node.get(key)
            if nxt is None:
                nxt = node[key] = {}
            node = nxt


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into the key path and the parsed value."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected key.path=value")
    return key.split("."), _parse_value(value)


Sources = dict[tuple[str, ...], str]
"""Where each overridden key path got its value (``--set ...`` or ``environment NAME``)."""


def apply_overrides(
    data: dict[str, Any], overrides: Iterable[str], *, sources: Sources | None = None
) -> dict[str, Any]:
    """Apply ``--set`` overrides in order (mutates and returns ``data``)."""
    for text in overrides:
        path, value = parse_override(text)
        _set_path(data, path, value, f"--set {text}")
        if sources is not None:
            sources[tuple(path)] = f"--set {text}"
    return data


def apply_env_overrides(
    data: dict[str, Any],
    environ: Mapping[str, str] | None = None,
    prefix: str = ENV_PREFIX,
    *,
    sources: Sources | None = None,
    sections: Collection[str] | None = None,
) -> dict[str, Any]:
    """Apply ``TRADELOOP_A__B=value`` variables (mutates and returns ``data``).

    With ``sections`` (the model's top-level keys), a variable without ``__`` that names none
    of them is not a config override but some tool's own setting (``TRADELOOP_SOAK_SECONDS``,
    ``TRADELOOP_TEST_PG_DSN``) and is left alone; a nested one (``TRADELOOP_RISKK__X``) is
    always an override, so a misspelt section is still reported.
    """
    env = os.environ if environ is None else environ
    for name in sorted(env):
        if not name.startswith(prefix) or len(name) == len(prefix):
            continue
        rest = name[len(prefix) :]
        if sections is not None and "__" not in rest and rest.lower() not in sections:
            continue
        parts = rest.split("__")
        if any(not part for part in parts):
            raise ConfigError(f"environment {name}: empty key segment")
        path = _env_path(data, parts, name)
        _set_path(data, path, _parse_value(env[name]), f"environment {name}")
        if sources is not None:
            sources[tuple(path)] = f"environment {name}"
    return data


def _env_path(data: dict[str, Any], parts: list[str], name: str) -> list[str]:
    """Variable names are upper case by custom: each segment takes the spelling of the key
    already there that matches it case-insensitively (``METHODS__TREND`` reaches a method
    named ``Trend``), else lower case."""
    path: list[str] = []
    node: Any = data
    for part in parts:
        key = part.lower()
        if isinstance(node, dict):
            matches = [k for k in node if isinstance(k, str) and k.lower() == key]
            if len(matches) > 1:
                raise ConfigError(f"environment {name}: {part} matches several keys: {', '.join(matches)}")
            if matches:
                key = matches[0]
            node = node.get(key)
        elif isinstance(node, list) and key.isascii() and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            node = None
        path.append(key)
    return path


def _source_of(loc: tuple[str, ...], default: str, sources: Sources | None) -> str:
    """The override that set ``loc`` or one of its parents, else one that set a key inside it
    (``--set node.speed=5`` makes ``node`` an unknown key), else ``default``."""
    if sources:
        for end in range(len(loc), 0, -1):
            found = sources.get(loc[:end])
            if found is not None:
                return found
        for path, found in sources.items():
            if loc and path[: len(loc)] == loc:
                return found
    return default


def format_validation_error(exc: ValidationError, source: str, sources: Sources | None = None) -> str:
    """One line per problem: ``source: key.path: reason`` (the override's source if one set it)."""
    lines = []
    for err in exc.errors():
        parts = tuple(str(part) for part in err["loc"])
        where = _source_of(parts, source, sources)
        loc = ".".join(parts) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        lines.append(f"{where}: {loc}: {msg}")
    return "\n".join(lines)


def load_config(
    model: type[M],
    path: Path | str | None = None,
    *,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    base: Mapping[str, Any] | None = None,
) -> M:
    """Load, override and validate a config model.

    Raises
    ------
    ConfigError
        Naming the file and every invalid key with its reason.
    """
    data: dict[str, Any] = _fresh(dict(base or {}))
    source = "defaults"
    if path is not None:
        _merge(data, load_yaml(path))
        source = str(path)
    sources: Sources = {}
    apply_env_overrides(data, environ, sources=sources, sections=model.model_fields.keys())
    apply_overrides(data, overrides, sources=sources)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, sources)) from None
