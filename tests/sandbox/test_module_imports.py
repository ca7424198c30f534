"""The sandbox's modules import each other without a cycle (the commands package had one).

Read from the source, not by importing: a cycle that happens to resolve in
today's import order still breaks the day a module moves. Imports inside
functions and under `if TYPE_CHECKING:` do not count (they run later, or never).
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import hive.sandbox

ROOT = Path(hive.sandbox.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("hive.sandbox", *parts))


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _top_level_imports(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for n in ast.walk(node):
            if isinstance(n, ast.ImportFrom) and n.module:
                found.add(n.module)
                found.update(f"{n.module}.{a.name}" for a in n.names)
            elif isinstance(n, ast.Import):
                found.update(a.name for a in n.names)
    return found


def test_the_sandbox_import_graph_has_no_cycle() -> None:
    graph = {
        name: {m for m in _top_level_imports(ast.parse(path.read_text())) if m in MODULES} - {name}
        for name, path in MODULES.items()
    }
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
