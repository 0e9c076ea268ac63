"""`.safetensors` files: weights only, with a header naming the built-in architecture and the
shapes and integer attributes that differ from a fresh build (so a pruned model reloads)."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from weightlight.errors import UserError
from weightlight.models.build import architecture, load_state
from weightlight.models.skeleton import (
    fit_to_state_dict,
    int_attrs,
    malformed_record,
    set_int_attrs,
)

ARCH_KEY = "weightlight.arch"
ATTRS_KEY = "weightlight.attrs"


def save_safetensors(model: nn.Module, tmp: Path) -> None:
    from safetensors.torch import save_model as st_save

    metadata = {ATTRS_KEY: json.dumps(int_attrs(model))}
    arch = getattr(model, "weightlight_arch", None)
    if arch is not None:
        metadata[ARCH_KEY] = json.dumps(arch)
    try:
        # save_model (not save_file) de-duplicates tied weights instead of failing on them.
        st_save(model, str(tmp), metadata=metadata)
    except OSError:  # a full disk is not a format problem: atomic_path reports it
        raise
    except Exception as exc:  # e.g. packed int8 params that are not plain tensors
        raise UserError(
            f"this model cannot be stored as safetensors ({type(exc).__name__}: {exc})",
            "save it as .pt2 (torch.export) or .pt instead",
        ) from None


def load_safetensors(path: Path, factory) -> nn.Module:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        state = load_file(str(path))
    except Exception as exc:
        raise UserError(
            f"'{path}' is not a valid safetensors file ({type(exc).__name__})",
            "the file is truncated or corrupt: re-save it",
        ) from None
    arch = _header_record(metadata, ARCH_KEY, path) if ARCH_KEY in metadata else None
    if arch is not None and not (
        isinstance(arch.get("name"), str) and isinstance(arch.get("kwargs", {}), dict)
    ):
        raise malformed_record(path, ARCH_KEY)
    attrs = _header_record(metadata, ATTRS_KEY, path) if ATTRS_KEY in metadata else {}
    if not all(isinstance(v, dict) for v in attrs.values()):
        raise malformed_record(path, ATTRS_KEY)
    problem = f"'{path}' holds weights but does not say which architecture they belong to"
    model = architecture(arch, factory, problem, path)
    fit_to_state_dict(model, state, f"'{path}'")
    set_int_attrs(model, attrs)
    load_state(model, state, path)
    return model


def _header_record(metadata: dict, key: str, path: Path) -> dict:
    """A JSON object from the safetensors header (which an untrusted file may have forged)."""
    try:
        value = json.loads(metadata[key])
    except (json.JSONDecodeError, TypeError):
        value = None
    if not isinstance(value, dict):
        raise malformed_record(path, key)
    return value
