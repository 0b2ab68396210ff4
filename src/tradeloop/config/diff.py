"""What changed between two configs, as dotted key paths.

Works on pydantic models and on the plain data of a YAML file alike (mappings, lists, scalars),
so a running node's reloader and ``tradeloop config snapshots`` (which reads snapshot files
without knowing the model) name changes the same way. A key is named as it is written in the
YAML file: a field's alias when it has one (``strategies.0.class``), list items by index, and
mapping keys as they are (an instrument id keeps its dot:
``risk.max_order_quantity_by_instrument.AAPL.XNAS``).

A change is reported at the deepest level both sides share: two models of one type, two
mappings or two lists are compared item by item; a value that is absent on one side (a new
mapping key, a list that grew) is reported at its own path with :data:`MISSING` on the other
side; anything else (scalars, models of different types) is compared whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, final

from pydantic import BaseModel

__all__ = ["MISSING", "Change", "changed_keys", "diff", "is_under", "value_at"]


@final
class _Missing:
    """The value of a key that one side does not have."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""Stands for the absent side of a key that was added or removed."""


@dataclass(frozen=True, slots=True)
class Change:
    """One changed key: its dotted path and the values before and after (or :data:`MISSING`)."""

    path: str
    old: Any
    new: Any


def _join(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _fields(model: BaseModel) -> Iterator[tuple[str, Any]]:
    """``(key as written in YAML, value)`` of every field, then of any extra keys."""
    for name, info in type(model).model_fields.items():
        yield (info.alias or name), getattr(model, name)
    extra = model.model_extra
    if extra:
        yield from extra.items()


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple)


def _walk(old: Any, new: Any, path: str, out: list[Change]) -> None:
    if isinstance(old, BaseModel) and type(old) is type(new):
        if old is new:
            return
        before = dict(_fields(old))
        after = dict(_fields(new))
        _walk_mappings(before, after, path, out)
    elif isinstance(old, Mapping) and isinstance(new, Mapping):
        _walk_mappings(old, new, path, out)
    elif _is_list(old) and _is_list(new):
        for i in range(max(len(old), len(new))):
            _walk(
                old[i] if i < len(old) else MISSING,
                new[i] if i < len(new) else MISSING,
                _join(path, i),
                out,
            )
    elif old is not new and (type(old) is not type(new) or old != new):
        # Different types always differ (1 == True == Decimal(1) would otherwise hide a change
        # of kind); equal-typed values compare by value (Decimal("1.0") == Decimal("1")).
        out.append(Change(path, old, new))


def _walk_mappings(old: Mapping[Any, Any], new: Mapping[Any, Any], path: str, out: list[Change]) -> None:
    for key, value in old.items():
        _walk(value, new.get(key, MISSING), _join(path, key), out)
    for key, value in new.items():
        if key not in old:
            out.append(Change(_join(path, key), MISSING, value))


def diff(old: Any, new: Any) -> list[Change]:
    """Every changed key between ``old`` and ``new``, in the order of ``old`` (added keys last
    within their mapping).

    Parameters
    ----------
    old, new:
        Two configs: pydantic models, or plain data as read from YAML.
    """
    out: list[Change] = []
    _walk(old, new, "", out)
    return out


def changed_keys(old: Any, new: Any) -> tuple[str, ...]:
    """The dotted paths of :func:`diff` (``""`` stands for the whole value)."""
    return tuple(change.path for change in diff(old, new))


def is_under(key: str, prefix: str) -> bool:
    """Whether ``key`` is ``prefix`` or lies inside it (``risk.max_daily_loss`` is under
    ``risk``; ``riskier`` is not)."""
    return key == prefix or key.startswith(prefix + ".") or not prefix


def _child(node: Any, parts: Sequence[str], i: int) -> tuple[Any, int]:
    """The child of ``node`` named by ``parts[i:]`` and how many parts it took."""
    part = parts[i]
    if isinstance(node, BaseModel):
        fields = type(node).model_fields
        if part in fields:
            return getattr(node, part), 1
        for name, info in fields.items():
            if info.alias == part:
                return getattr(node, name), 1
        extra = node.model_extra
        if extra and part in extra:
            return extra[part], 1
    elif isinstance(node, Mapping):
        # A key may hold dots itself (instrument ids): try one part, then longer joins.
        for end in range(i + 1, len(parts) + 1):
            key = ".".join(parts[i:end])
            if key in node:
                return node[key], end - i
    elif _is_list(node) and part.isdigit() and int(part) < len(node):
        return node[int(part)], 1
    raise KeyError(part)


def value_at(config: Any, path: str) -> Any:
    """The value at a dotted path of a model or of plain data (``""`` is the whole config).

    Raises
    ------
    KeyError
        Naming the path and the first part of it that does not exist.
    """
    if not path:
        return config
    parts = path.split(".")
    node = config
    i = 0
    while i < len(parts):
        try:
            node, used = _child(node, parts, i)
        except KeyError:
            done = ".".join(parts[:i])
            where = f" in {done}" if done else ""
            raise KeyError(f"{path}: no key {parts[i]!r}{where}") from None
        i += used
    return node
