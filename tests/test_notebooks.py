"""The teaching notebooks execute top to bottom (their figures are computed, not pasted).

Executing all five takes ~220 s, an eighth of CI: CI checks instead that their committed
outputs hold no error and that every `wl.` name and import they use still exists and takes
the keywords they pass (the drift that breaks a notebook); `make test-docs` executes them
(`doc_long`), as tools/make_notebooks.py does when it regenerates them.
"""

import ast
import importlib
import inspect
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import weightlight as wl

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "docs" / "notebooks").glob("*.ipynb"))


def test_the_notebooks_exist():
    assert {p.stem for p in NOTEBOOKS} >= {"how-quantization-works", "pruning", "distillation",
                                           "static-vs-dynamic-quantization",
                                           "quantization-aware-training"}  # fmt: skip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_executed_small_and_installable(path):
    """A code host shows the outputs (committed executed, without errors), the file stays
    small, and the first cell installs weightlight only where it is missing."""
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert 'find_spec("weightlight") is None' in code[0].source
    assert all(cell.execution_count for cell in code), "run tools/make_notebooks.py to execute"
    outputs = [o for cell in code for o in cell.outputs]
    assert any(o.output_type == "display_data" for o in outputs)
    assert not [o for o in outputs if o.output_type == "error"]
    assert path.stat().st_size < 400_000


def test_install_cell_does_nothing_where_weightlight_is_importable():
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    calls = []
    import subprocess

    namespace = {}
    original = subprocess.check_call
    subprocess.check_call = lambda *a, **k: calls.append(a)
    try:
        exec(nb.cells[0].source, namespace)  # weightlight is importable in the test session
    finally:
        subprocess.check_call = original
    assert calls == [] and "source" not in namespace


MISSING = object()


def _lookup(node: ast.expr):
    """The object a `wl.a.b` attribute chain names, MISSING where a name is gone, None for
    an expression that is not such a chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not (isinstance(node, ast.Name) and node.id == "wl"):
        return None
    obj = wl
    for name in reversed(parts):
        obj = getattr(obj, name, MISSING)
        if obj is MISSING:
            break
    return obj


def _drift(source: str) -> list[str]:
    """What the code uses of weightlight that no longer exists or takes its keywords."""
    problems = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("weightlight"):
            module = importlib.import_module(node.module)
            problems |= {f"{node.module}.{a.name}" for a in node.names
                         if not hasattr(module, a.name)}  # fmt: skip
        elif isinstance(node, ast.Attribute) and _lookup(node) is MISSING:
            problems.add(f"{ast.unparse(node)}: missing")
        elif isinstance(node, ast.Call) and (target := _lookup(node.func)) not in (None, MISSING):
            keywords = {k.arg for k in node.keywords if k.arg}
            fields = getattr(target, "model_fields", None)  # a pydantic config
            if fields is not None:
                problems |= {f"{ast.unparse(node.func)}({k}=)" for k in keywords - set(fields)}
            elif callable(target) and not any(k.arg is None for k in node.keywords):
                try:
                    inspect.signature(target).bind_partial(**dict.fromkeys(keywords))
                except TypeError as exc:
                    problems.add(f"{ast.unparse(node.func)}: {exc}")
    return sorted(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_code_uses_only_what_exists(path):
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"][1:]  # after the install cell
    source = "\n".join(
        line for c in code for line in c.splitlines() if not line.startswith(("%", "!"))
    )
    assert _drift(source) == []


def test_the_drift_check_sees_a_renamed_class_and_a_wrong_keyword():
    assert _drift("wl.prune(m, wl.prune.Structured(ratio=0.5), d)") == []
    assert _drift("wl.prune.Structred(ratio=0.5)") != []
    assert _drift("wl.prune.Structured(ratoi=0.5)") == ["wl.prune.Structured(ratoi=)"]
    assert _drift("wl.measure(m, d, runz=3)") != []
    assert _drift("from weightlight.config import Finetun") == ["weightlight.config.Finetun"]


@pytest.mark.slow
@pytest.mark.doc_long  # `make test-docs`: ~220 s for the five (CI runs the checks above)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type == "display_data" for o in outputs)  # the plots were drawn
