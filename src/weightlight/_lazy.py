"""Modules imported on first use, so `import weightlight` (every CLI call) stays quick.

onnx (through ml_dtypes) and matplotlib take ~1.2 s and ~0.9 s of CPU to import, a third of a
CLI command's start-up, while most commands never touch them. `lazy_import("onnx")` returns the
module object at once and runs its code on the first attribute read (importlib's LazyLoader).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """`import name`, deferred until an attribute of the result is first read."""
    if name in sys.modules:
        return sys.modules[name]
    parent = name.rpartition(".")[0]
    if parent:
        lazy_import(parent)
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named '{name}'", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
