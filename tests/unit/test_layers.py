"""The layer rule: imports inside ``tradeloop`` point down the stack only, without cycles.

Every ``import`` and ``from ... import`` in every module counts, wherever it sits (inside
functions, ``if TYPE_CHECKING:`` blocks, ``try`` blocks): a lazy upward import is still a
dependency. Each import is mapped to its top-level subpackage and checked against
:data:`LAYERS`. Same-rank imports are allowed while the package graph stays acyclic.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import tradeloop

ROOT = "tradeloop"
PACKAGE_DIR = Path(tradeloop.__file__).resolve().parent

LAYERS: dict[str, int] = {
    "core": 0,
    "model": 1,
    "data": 2,
    "indicators": 2,
    "store": 2,
    "observe": 2,
    "config": 2,
    "testkit": 2,
    "strategy": 3,
    "risk": 3,
    "execution": 3,
    "portfolio": 3,
    "analysis": 3,
    "lifecycle": 3,
    "sagas": 4,
    "venues": 5,
    "runtime": 6,
    "cli": 7,
    "server": 7,
}
"""Rank of each top-level subpackage; an import may not go to a higher rank."""

LEAVES = frozenset({"sample_data"})
"""Anyone may import these; they import nothing else of tradeloop."""

EXEMPT_FILES = frozenset({"__init__.py"})
"""Top-level files whose imports are not checked (the package's own ``__init__``)."""


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    source: str  # top-level subpackage of the importing module
    target: str  # top-level subpackage imported ("" for the root package itself)
    module: str  # the imported module as written, made absolute

    def where(self, base: Path) -> str:
        return f"{self.path.relative_to(base)}:{self.line} -> {self.module}"


def module_name(package_dir: Path, path: Path) -> tuple[str, bool]:
    """Dotted name of the module at ``path`` and whether it is a package ``__init__``."""
    parts = list(path.relative_to(package_dir).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join([package_dir.name, *parts]), is_package


def absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = name.split(".") if is_package else name.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(tree: ast.AST, name: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """``(line, absolute module)`` of every import anywhere in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node, name, is_package)
            if "." in base:
                yield node.lineno, base
                continue
            # ``from tradeloop import runtime`` imports a subpackage: keep the names.
            for alias in node.names:
                yield node.lineno, base if alias.name == "*" else f"{base}.{alias.name}"


def top_level_entries(package_dir: Path) -> set[str]:
    """Names of the subpackages and top-level modules (other than ``__init__``)."""
    names = set()
    for entry in package_dir.iterdir():
        if entry.is_dir() and not entry.name.startswith((".", "__")) and "." not in entry.name:
            names.add(entry.name)
        elif entry.suffix == ".py" and entry.name not in EXEMPT_FILES:
            names.add(entry.stem)
    return names


def collect_imports(package_dir: Path) -> list[Import]:
    root = package_dir.name
    entries = top_level_entries(package_dir)
    found: list[Import] = []
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir)
        if len(rel.parts) == 1 and rel.name in EXEMPT_FILES:
            continue
        name, is_package = module_name(package_dir, path)
        source = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in imported_modules(tree, name, is_package):
            parts = module.split(".")
            if parts[0] != root:
                continue
            target = parts[1] if len(parts) > 1 and parts[1] in entries | set(LAYERS) | LEAVES else ""
            found.append(Import(path, line, source, target, module))
    return found


def unknown_entries(package_dir: Path) -> list[str]:
    return sorted(
        f"{package_dir.name}/{name}: not in the layer table (add it to LAYERS or LEAVES)"
        for name in top_level_entries(package_dir)
        if name not in LAYERS and name not in LEAVES
    )


def layer_violations(package_dir: Path) -> list[str]:
    base = package_dir.parent
    problems = []
    for imp in collect_imports(package_dir):
        if imp.target in ("", imp.source):
            continue  # the root package's own names, or an import within one subpackage
        if imp.target in LEAVES:
            continue
        if imp.source in LEAVES:
            problems.append(f"{imp.where(base)}: leaf {imp.source} may not import {imp.target}")
        elif imp.source not in LAYERS or imp.target not in LAYERS:
            unknown = imp.source if imp.source not in LAYERS else imp.target
            problems.append(f"{imp.where(base)}: {unknown} is not in the layer table")
        elif LAYERS[imp.target] > LAYERS[imp.source]:
            problems.append(
                f"{imp.where(base)}: {imp.source} (rank {LAYERS[imp.source]}) imports "
                f"{imp.target} (rank {LAYERS[imp.target]}), a higher layer"
            )
    return problems


def package_cycles(package_dir: Path) -> list[str]:
    """Every strongly connected group of two or more subpackages, with the edges inside it."""
    base = package_dir.parent
    edges: dict[str, dict[str, list[Import]]] = {}
    for imp in collect_imports(package_dir):
        if imp.target and imp.target != imp.source:
            edges.setdefault(imp.source, {}).setdefault(imp.target, []).append(imp)
    nodes = sorted(set(edges) | {t for targets in edges.values() for t in targets})

    # Tarjan's strongly connected components (recursion is fine for a dozen packages).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, {})):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in nodes:
        if node not in index:
            visit(node)
    problems = []
    for group in sorted(groups):
        inside = [
            imp.where(base)
            for src in group
            for dst, imps in sorted(edges.get(src, {}).items())
            if dst in group
            for imp in imps
        ]
        problems.append(f"import cycle between {', '.join(group)}: " + "; ".join(inside))
    return problems


def check(package_dir: Path) -> list[str]:
    return unknown_entries(package_dir) + layer_violations(package_dir) + package_cycles(package_dir)


# -- the real package -----------------------------------------------------------------------


def test_every_top_level_entry_of_tradeloop_is_in_the_layer_table() -> None:
    problems = unknown_entries(PACKAGE_DIR)
    assert not problems, "\n".join(problems)


def test_tradeloop_imports_point_down_the_layers_only() -> None:
    problems = layer_violations(PACKAGE_DIR)
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_tradeloop_package_import_graph_has_no_cycle() -> None:
    problems = package_cycles(PACKAGE_DIR)
    assert not problems, "\n".join(problems)


def test_the_walk_sees_the_real_imports() -> None:
    # Guards against a checker that silently finds nothing.
    imports = collect_imports(PACKAGE_DIR)
    assert any(i.source == "model" and i.target == "core" for i in imports)
    assert any(i.source == "testkit" and i.target == "model" for i in imports)


# -- the checker itself, on a fake tree ------------------------------------------------------


def write_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "src" / ROOT
    for rel, text in {"__init__.py": "", **files}.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for directory in [p for p in package.rglob("*") if p.is_dir()]:
        (directory / "__init__.py").touch()
    return package


def test_checker_passes_a_tree_that_respects_the_layers(tmp_path: Path) -> None:
    package = write_tree(
        tmp_path,
        {
            "core/bus.py": "import msgspec\n",
            "model/orders.py": "from tradeloop.core.bus import X\nfrom ..core import bus\n",
            "data/loader.py": "from tradeloop.model import orders\nfrom tradeloop.store import db\n",
            "store/db.py": "from tradeloop.sample_data import files\n",
            "sample_data/files.py": "import json\n",
            "runtime/engine.py": "from tradeloop import __version__\nimport tradeloop.venues.sim\n",
            "venues/sim.py": "from . import sim\nfrom tradeloop.core import *\n",
        },
    )
    assert check(package) == []


def test_checker_reports_every_upward_import_with_file_and_line(tmp_path: Path) -> None:
    package = write_tree(
        tmp_path,
        {
            "core/bus.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from tradeloop.model.orders import Order\n"
                "def late():\n"
                "    import tradeloop.runtime.engine\n"
            ),
            "model/orders.py": "from ..strategy import base\n",
            "strategy/base.py": "from tradeloop import cli\n",
            "runtime/engine.py": "",
            "cli/main.py": "",
        },
    )
    problems = layer_violations(package)
    up = "a higher layer"
    assert problems == [
        f"tradeloop/core/bus.py:3 -> tradeloop.model.orders: core (rank 0) imports model (rank 1), {up}",
        f"tradeloop/core/bus.py:5 -> tradeloop.runtime.engine: core (rank 0) imports runtime (rank 6), {up}",
        f"tradeloop/model/orders.py:1 -> tradeloop.strategy: model (rank 1) imports strategy (rank 3), {up}",
        f"tradeloop/strategy/base.py:1 -> tradeloop.cli: strategy (rank 3) imports cli (rank 7), {up}",
    ]


def test_checker_reports_a_same_rank_cycle(tmp_path: Path) -> None:
    package = write_tree(
        tmp_path,
        {
            "data/loader.py": "from tradeloop.store import db\n",
            "store/db.py": "def f():\n    from tradeloop.data.loader import load\n",
        },
    )
    assert layer_violations(package) == []
    (problem,) = package_cycles(package)
    assert problem.startswith("import cycle between data, store: ")
    assert "tradeloop/data/loader.py:1 -> tradeloop.store;" in problem
    assert "tradeloop/store/db.py:2 -> tradeloop.data.loader" in problem


def test_checker_fails_unknown_subpackages_and_modules_and_leaves_that_import(tmp_path: Path) -> None:
    package = write_tree(
        tmp_path,
        {
            "gadgets/thing.py": "from tradeloop.core import bus\n",
            "helpers.py": "",
            "core/bus.py": "from tradeloop import gadgets\n",
            "sample_data/files.py": "from tradeloop.core import bus\n",
        },
    )
    assert unknown_entries(package) == [
        "tradeloop/gadgets: not in the layer table (add it to LAYERS or LEAVES)",
        "tradeloop/helpers: not in the layer table (add it to LAYERS or LEAVES)",
    ]
    problems = layer_violations(package)
    assert "tradeloop/core/bus.py:1 -> tradeloop.gadgets: gadgets is not in the layer table" in problems
    assert "tradeloop/gadgets/thing.py:1 -> tradeloop.core: gadgets is not in the layer table" in problems
    assert (
        "tradeloop/sample_data/files.py:1 -> tradeloop.core: leaf sample_data may not import core" in problems
    )


def test_checker_names_a_file_it_cannot_parse(tmp_path: Path) -> None:
    package = write_tree(tmp_path, {"core/broken.py": "def (:\n"})
    with pytest.raises(SyntaxError) as info:
        check(package)
    assert "broken.py" in str(info.value.filename)
