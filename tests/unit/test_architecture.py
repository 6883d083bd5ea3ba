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


# Functions no ``src`` or ``scripts`` code calls, and why each stays. Anything else that only
# tests reach is dead code: delete it or make it act.
FRAMEWORK_HOOKS = {  # called by Lightning / TorchRL, never by name in our code
    "configure_optimizers", "train_dataloader", "val_dataloader", "on_fit_start",
    "on_train_epoch_start", "training_step", "on_train_epoch_end", "validation_step",
    "on_save_checkpoint", "on_load_checkpoint", "transform_observation_spec", "_reset",
    "_inv_call",
}  # fmt: skip
CALLER_API = {  # the plan's interface for a caller of the live system (docs say where)
    "get_portfolio_state": "plans 1.1 and 4.2: the meta-controller state of an account",
    "detect_market_regime": "plan 1.1: MetaController's name for market_regime (in the reports)",
    "calculate_kelly_allocation": "plan 1.1: MetaController's name for kelly_allocation (baseline)",
    "get_specialist_states": "plan 4.2: helper of HierarchicalTradingSystem",
    "flatten_specialist_actions": "plan 4.2: helper of HierarchicalTradingSystem",
    "scale_down_to_risk_limit": "plan 4.2: helper of HierarchicalTradingSystem",
    "get_all_specialists": "plan 2.3: SpecialistFactory listing",
    "calculate_confidence": "plan 1.2: BaseSpecialist",
    "normalize_features": "plan 1.2: BaseSpecialist (the pipeline's z-score)",
    "query": "plan 4.1: the message queue is queryable by type, agent, time",
    "approve": "plan 3.1: both PreTradeChecker and PortfolioRiskManager pass an order",
    "update_prices": "the price-band reference of PreTradeChecker.check_order",
    "update_returns": "PortfolioRiskManager fed bar by bar by a live caller",
    "register": "Registry: a user adds a data source, logger or baseline",
    "to_frame": "MarketData as a pandas frame for a user's own analysis",
    "correlation_exposure_before": "RiskDiagnostics: exposure of the proposed book, on demand",
    "var_confidence_interval": "bootstrap CI of a VaR estimate (docs/portfolio-risk.md)",
    "portfolio_var_from_cov": "parametric VaR of a book from a covariance",
}


def names_used(paths: list[Path]) -> set[str]:
    """Every name, attribute and imported name the code of ``paths`` mentions."""
    used: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name):
                used.add(node.id)
            elif isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, ast.alias):
                used.add(node.name.rpartition(".")[2])
    return used


def test_every_function_of_src_is_called_outside_the_tests() -> None:
    """A function or class of ``src`` (test support aside) that no ``src`` or ``scripts`` code
    names is reachable only from tests; the two lists above say why the exceptions stay."""
    code = [p for p in SRC.rglob("*.py")] + sorted((ROOT / "scripts").glob("*.py"))
    conf = "\n".join(p.read_text() for p in (ROOT / "conf").rglob("*.yaml"))
    used = names_used(code)
    unused = set()
    for name, path in MODULES.items():
        if name.startswith(TEST_SUPPORT):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                n = node.name
                if not (n.startswith("__") or n in used or n in conf):
                    unused.add(n)
    assert unused - FRAMEWORK_HOOKS - set(CALLER_API) == set()
    assert set(CALLER_API) <= unused, "an exception is called now: take it off the list"
