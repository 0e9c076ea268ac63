"""Saving and loading models, treating every file as untrusted.

Formats:
- `.safetensors`: weights only, the default. The header metadata records the built-in
  architecture (registry name + kwargs) and any module shapes and integer attributes that
  differ from a fresh build, so a pruned model reloads without the code that pruned it.
- `.pt` / `.pth`: a state_dict read with `torch.load(weights_only=True)`; a whole pickled
  model loads only with `trust=True` (unpickling can run arbitrary code).
- `.pt2`: a `torch.export` program (architecture + weights, no Python class needed).
- `.onnx`: an ONNX Runtime session wrapped as a runnable model (see weightlight.export).

Code is imported only from a `module:function` the user passes explicitly; a file never names
code to import, only built-in registry names. This module picks the format by suffix; each
format lives in its own module (safetensors_file.py, torch_file.py), and build.py builds the
architecture a file's weights go into.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from weightlight._factory import is_factory_spec
from weightlight._io import atomic_path
from weightlight._registry import Registry
from weightlight.errors import UserError
from weightlight.models import registry
from weightlight.models.build import architecture, build_from_factory
from weightlight.models.hf import is_hf_spec, load_hf
from weightlight.models.pt2_program import export_program
from weightlight.models.safetensors_file import load_safetensors, save_safetensors
from weightlight.models.skeleton import fit_to_state_dict, read_record, set_int_attrs
from weightlight.models.torch_file import (  # noqa: F401  (re-exported: quantize/io.py registers)
    PT_LOADERS,
    PT_SAVERS,
    load_pickle,
    load_pt2,
    pickle_imports,
    pt2_pickled_members,
    pt_payload,
)

# Formats other packages own register here, so model I/O never imports them:
# `.onnx` files (weightlight.export).
FILE_LOADERS: Registry[Callable[[Path], nn.Module]] = Registry("model file type")


def save_model(model: nn.Module, path: str | Path, example_input: torch.Tensor | None = None):
    """Save `model` atomically; the suffix of `path` picks the format."""
    path = Path(path)
    suffix = path.suffix
    with atomic_path(path) as tmp:
        if suffix == ".safetensors":
            save_safetensors(model, tmp)
        elif suffix in (".pt", ".pth"):
            torch.save(pt_payload(model), tmp)
        elif suffix == ".pt2":
            if example_input is None:
                raise UserError("saving a .pt2 needs an example input", "pass example_input=")
            args, kwargs = (
                ((), dict(example_input))
                if isinstance(example_input, dict)
                else (tuple(example_input), {})
                if isinstance(example_input, (tuple, list))
                else ((example_input,), {})
            )
            program = export_program(model, args, kwargs)
            # Through a file object: given the temporary file's name (not ending in .pt2),
            # torch logs a warning line on stderr for every save.
            with open(tmp, "wb") as f:
                torch.export.save(program, f)
        else:
            raise UserError(
                f"cannot save a model as '{suffix or path.name}'",
                "use a .safetensors, .pt or .pt2 file name",
            )
    return path


def load_model(
    source: str | Path,
    *,
    factory: str | Callable[[], nn.Module] | None = None,
    trust: bool = False,
) -> nn.Module:
    """Load a model from a registry name, `module:function`, or a file.

    Args:
        source: `mnist_cnn` (built-in, untrained), `pkg.mod:build`, `hf:FOLDER` (a local
            Hugging Face model), or a path to a `.safetensors`, `.pt`, `.pth`, `.pt2` or
            `.onnx` file.
        factory: builds the architecture that a weights file fills in, when the file does
            not name a built-in one (a registry name, `module:function` or a callable).
        trust: allow unpickling a whole model object from `.pt` (runs code from the file).

    Example:
        >>> m = load_model("mnist_cnn")
        >>> sum(p.numel() for p in m.parameters())
        1199882
    """
    source = str(source)
    if is_hf_spec(source):
        return load_hf(source)
    path = Path(source)
    if path.suffix in (".safetensors", ".pt", ".pth", ".pt2", ".onnx"):
        if not path.is_file():
            raise UserError(f"model file '{path}' does not exist", "check the path")
        if path.stat().st_size == 0:
            raise UserError(f"model file '{path}' is empty", "re-save or re-download it")
        if path.suffix == ".safetensors":
            return load_safetensors(path, factory)
        if path.suffix == ".pt2":
            return load_pt2(path, trust)
        loader = FILE_LOADERS.get(path.suffix)
        if loader is not None:
            return loader(path)
        return load_pickle(path, factory, trust)
    if registry.is_registered(source):
        return registry.create(source)
    if is_factory_spec(source):
        return build_from_factory(source)
    if path.exists():
        raise UserError(
            f"model file '{path}' has an unsupported type",
            "use .safetensors, .pt, .pth, .pt2 or .onnx",
        )
    raise UserError(
        f"unknown model '{source}' (not a file, a built-in name or module:function)",
        f"use a model file, one of {', '.join(registry.names())}, or mypkg.mod:build",
    )


def skeleton_from_record(record: dict, path: Path, factory=None) -> nn.Module:
    """The float architecture a `skeleton_record` describes (weights left at their init)."""
    arch, attrs, shapes = read_record(record, path)
    problem = f"'{path}' holds a quantized model of an architecture weightlight cannot rebuild"
    model = architecture(arch, factory, problem, path)
    meta = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    fit_to_state_dict(model, meta, f"'{path}'")
    set_int_attrs(model, attrs)
    return model
