"""The import graph of connector/ and adapters/, read with ast: no cycle between modules, even
counting the imports made inside functions, and no import of one of them inside a function
except where a module defers a heavy load on purpose (``DEFERRED``, each with its reason; the
house rule: no function-level import to dodge a cycle, the dependency goes where it belongs
instead). Imports under ``if TYPE_CHECKING:`` are for the type checker only and do not count."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("connector", "adapters")

DEFERRED = {
    "connector.cli.run": "`relance serve|web|worker|demo` load the web app, the scheduler and"
    " the WSGI servers when they run, not every `relance` command",
    "connector.dunning.deliver": "fpdf2 (some 20 MB) loads only when a letter is made",
}
"""Modules allowed to import project modules inside a function, and why (never a cycle)."""


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The project module an imported name lives in (``a.b.C`` → ``a.b``), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterable[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package.pop()
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{alias.name}" for alias in node.names]
    for name in names:
        owner = _owner(name)
        if owner is not None and owner != module:
            yield owner
            # importing a.b.c runs the packages a and a.b first
            parts = owner.split(".")
            for n in range(1, len(parts)):
                parent = ".".join(parts[:n])
                if parent in MODULES and not module.startswith(parent + "."):
                    yield parent


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for each import of a project module."""
    found: list[tuple[str, int, bool]] = []

    def walk(nodes: Iterable[ast.AST], in_function: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _type_checking(node):
                walk(node.orelse, in_function)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                found.extend((t, node.lineno, in_function) for t in _targets(module, node))
            else:
                inside = in_function or isinstance(
                    node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                )
                walk(ast.iter_child_nodes(node), inside)

    walk(ast.parse(MODULES[module].read_text(encoding="utf-8")).body, False)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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


def test_no_project_import_inside_a_function_but_the_deferred_loads() -> None:
    inside = [
        f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}"
        for m, imports in GRAPH.items()
        for target, line, in_function in imports
        if in_function and m not in DEFERRED
    ]
    assert inside == []
    assert set(DEFERRED) <= set(MODULES)


def test_no_import_cycle_between_modules() -> None:
    graph = {m: {target for target, _, _ in imports} for m, imports in GRAPH.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module loop through a third is one component."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
