"""The layout holds: no import circle in ``src/mtquant``, and no module that only tests reach.

The import graph is read from the source with ``ast`` (every ``import`` a module executes,
lazy ones inside functions included; ``if TYPE_CHECKING:`` blocks are not executed and are left
out). ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
TEST_SUPPORT = "mtquant.testing"  # importable by worker processes; only tests use it


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            is_type_checking = isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(
                child.test
            )
            if is_type_checking:
                stack.extend(child.orelse)
            else:
                stack.append(child)


def imports_of(name: str, path: Path) -> set[str]:
    """The ``mtquant`` modules ``name`` imports when it runs."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        out.update(t for t in targets if t in MODULES and t != name)
    return out


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _folder_of(module: str) -> str:
    """The folder a module lives in (``mtquant.agents.training``); a module directly in
    ``mtquant/`` (``mtquant.experiment``, ``mtquant.errors``) is a unit of its own."""
    path = MODULES[module]
    if path.name == "__init__.py":
        return module
    parent = module.rpartition(".")[0]
    return module if parent == "mtquant" else parent


def test_no_module_of_src_is_in_an_import_circle() -> None:
    assert cycles(GRAPH) == []


def test_no_two_folders_import_each_other() -> None:
    """Folder level (``agents`` <-> ``execution`` was such a circle): edges between folders."""
    folders: dict[str, set[str]] = {}
    for src, targets in GRAPH.items():
        folders.setdefault(_folder_of(src), set()).update(
            _folder_of(t) for t in targets if _folder_of(t) != _folder_of(src)
        )
    assert cycles(folders) == []


def test_cycle_finder_finds_a_planted_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_every_module_is_reached_from_an_entry_point() -> None:
    """Starting from ``scripts/*.py``, every module but the test-support package is imported."""
    seen: set[str] = set()
    todo = [
        t
        for script in sorted((ROOT / "scripts").glob("*.py"))
        for t in imports_of(f"scripts.{script.stem}", script)
    ]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(GRAPH[name])
        parts = name.split(".")  # importing a.b.c runs the packages a and a.b first
        todo.extend(".".join(parts[:k]) for k in range(1, len(parts)))
    unreached = {m for m in MODULES if m not in seen and not m.startswith(TEST_SUPPORT)}
    assert unreached == set()
    assert not any(m.startswith(TEST_SUPPORT) for m in seen), "production code imports test support"
