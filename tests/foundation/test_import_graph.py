"""The package's modules import each other one way: no cycle, and nothing below the CLI leans on
`weightlight/__init__.py` (which imports them all, so such a module works only by import order).

Imports are read from the source (module-level and those inside functions alike), so a cycle
hidden in a lazy import fails here too. Importing `a.b.c` also runs the package `a.b`'s
`__init__`; that implicit edge is left out, as every package's `__init__` imports its own modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "src" / "weightlight"
# Allowed to use the package namespace: the package itself and the command line above it.
TOP = ("weightlight", "weightlight.__main__")
CLI = "weightlight.cli"


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under `root` (a package directory)."""
    out = {}
    for file in root.rglob("*.py"):
        parts = file.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return out


def imports(name: str, file: Path) -> list[tuple[str, str | None]]:
    """(imported module, name imported from it or None) for every import statement in `file`."""
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(base, alias.name) for alias in node.names]
    return found


def import_graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """(module -> modules it imports, 'module: statement' uses of the package namespace)."""
    known = modules(root)
    graph: dict[str, set[str]] = {m: set() for m in known}
    via_init = []
    for name, file in known.items():
        below_cli = name not in TOP and not (name == CLI or name.startswith(CLI + "."))
        for module, item in imports(name, file):
            target = f"{module}.{item}" if f"{module}.{item}" in known else module
            if target in known and target != name:
                graph[name].add(target)
            if below_cli and target == root.name:
                via_init.append(f"{name}: " + (f"from {module} import {item}" if item else
                                               f"import {module}"))  # fmt: skip
    return graph, via_init


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

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


def test_no_import_cycle():
    graph, _ = import_graph(ROOT)
    assert len(graph) > 80  # the walk found the package
    assert cycles(graph) == []


def test_nothing_below_the_cli_imports_the_package_namespace():
    _, via_init = import_graph(ROOT)
    assert via_init == []


def test_the_checks_catch_what_they_look_for(tmp_path):
    pkg = tmp_path / "weightlight"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from weightlight import a\n")
    (pkg / "a.py").write_text("def f():\n    from weightlight.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from ..a import f\n")
    (pkg / "c.py").write_text("import weightlight as wl\n")
    graph, via_init = import_graph(pkg)
    assert cycles(graph) == [["weightlight.a", "weightlight.sub.b"]]
    assert via_init == ["weightlight.c: import weightlight"]


@pytest.mark.parametrize("name", ["pipeline", "search.study", "measure.size"])
def test_known_modules_are_in_the_graph(name):
    graph, _ = import_graph(ROOT)
    assert f"weightlight.{name}" in graph
