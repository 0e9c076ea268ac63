"""Rebuilding an architecture from saved shapes, without the code that changed it.

Structured pruning changes layer widths and attributes such as attention head counts; a saved
model records them (safetensors header, or the `float` record of a quantized file) and the
loader resizes a fresh build of the architecture to fit before pouring the weights in. Files
are untrusted: a record is validated, and only int attributes that exist are set.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from weightlight.errors import UserError

_RESIZABLE = (nn.Conv1d, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm,
              nn.Embedding)  # fmt: skip


def fit_to_state_dict(
    model: nn.Module, state: dict[str, torch.Tensor], source: str = "the file"
) -> nn.Module:
    """Rebuild layers whose saved shapes differ (a pruned model) so the state_dict loads.

    Only Conv/Linear/BatchNorm/LayerNorm/Embedding widths change under structured pruning;
    the forward code reads sizes from the layers, so resizing them is enough. The saved shapes
    come from an untrusted file: a weight of the wrong rank, an empty dimension or a bias that
    does not match its weight is refused before any layer is built from it (a [2**40, 0]
    weight holds no bytes but would make a 4 TB bias).
    A transformer saved with fewer blocks (block removal) is first cut to that many blocks.
    """
    _fit_block_count(model, state)
    for name, module in list(model.named_modules()):
        if not isinstance(module, _RESIZABLE) or f"{name}.weight" not in state:
            continue
        w = state[f"{name}.weight"]
        if tuple(w.shape) == tuple(module.weight.shape):
            continue
        _check_saved_shape(name, module, w.shape, state.get(f"{name}.bias"), source)
        new = _resized(module, w, state.get(f"{name}.bias"))
        if new is None:
            continue
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)
    return model


def _fit_block_count(model: nn.Module, state: dict) -> None:
    """Keep the first n blocks of a Hugging Face model whose saved state holds n of them (the
    saved blocks are numbered 0..n-1 whichever were removed: their widths are fitted next)."""
    from weightlight.models.hf_arch import blocks, find_family
    from weightlight.models.hf_slice import keep_blocks

    found = find_family(model)
    if found is None or found[1] is None:
        return
    hf, family = found
    try:
        name, layers = blocks(hf, family)
    except LookupError:
        return
    outer = next(n for n, m in model.named_modules() if m is hf)
    prefix = f"{outer}.{name}." if outer else f"{name}."
    saved = {key[len(prefix) :].split(".", 1)[0] for key in state if key.startswith(prefix)}
    count = sum(1 for i in range(len(layers)) if str(i) in saved)
    if 0 < count < len(layers):
        keep_blocks(hf, name, layers, list(range(count)), family)


def _check_saved_shape(name: str, module: nn.Module, shape, bias, source: str) -> None:
    rank = module.weight.dim()  # Linear 2, Conv2d 4, BatchNorm 1, LayerNorm its own, ...
    kind = type(module).__name__
    problem = None
    if len(shape) != rank:
        problem = f"{name}.weight has {len(shape)} dimensions {tuple(shape)}, a {kind} has {rank}"
    elif any(d < 1 for d in shape):
        problem = f"{name}.weight has an empty dimension {tuple(shape)}"
    elif bias is not None and bias.dim() != 1 and not isinstance(module, nn.LayerNorm):
        problem = f"{name}.bias has shape {tuple(bias.shape)}, not one value per output"
    elif bias is not None and bias.shape[0] != shape[0] and not isinstance(module, nn.LayerNorm):
        problem = f"{name}.bias has {bias.shape[0]} values for {shape[0]} outputs"
    if problem:
        raise UserError(
            f"the weights in {source} do not fit the architecture ({problem})",
            "the file is damaged or forged: re-save the model with weightlight",
        )


def check_declared_size(shapes: dict[str, torch.Size], path: Path, per_byte: int = 8) -> None:
    """Shapes a file declares without holding the values (a quantized file's float skeleton)
    must be sane and no larger than the file's bytes could stand for: each stored weight is
    at least half a byte (int4), so `per_byte` elements per byte leaves room to spare."""
    total = 0
    for shape in shapes.values():
        if any(d < 0 for d in shape):
            raise malformed_record(path, "float")
        total += shape.numel()
    limit = per_byte * path.stat().st_size + 2**20
    if total > limit:
        raise UserError(
            f"'{path}' declares {total:,} weights but holds {path.stat().st_size:,} bytes",
            "the file is damaged or forged: re-save the model with weightlight",
        )


def _resized(module: nn.Module, w: torch.Tensor, bias) -> nn.Module | None:
    has_bias = bias is not None
    if isinstance(module, nn.Linear):
        return nn.Linear(w.shape[1], w.shape[0], bias=has_bias)
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        depthwise = module.groups > 1 and module.groups == module.in_channels
        groups = w.shape[0] if depthwise else module.groups
        return type(module)(
            w.shape[1] * groups, w.shape[0], module.kernel_size, module.stride,
            module.padding, module.dilation, groups, has_bias, module.padding_mode,
        )  # fmt: skip
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return type(module)(w.shape[0], module.eps, module.momentum, module.affine)
    if isinstance(module, nn.LayerNorm):
        return nn.LayerNorm(tuple(w.shape), module.eps, bias=has_bias)
    if isinstance(module, nn.Embedding):
        return nn.Embedding(w.shape[0], w.shape[1], module.padding_idx)
    return None


def int_attrs(model: nn.Module) -> dict[str, dict[str, int]]:
    """Public int attributes of every module (head counts etc. that pruning may change)."""
    out: dict[str, dict[str, int]] = {}
    for name, module in model.named_modules():
        attrs = {
            k: v
            for k, v in vars(module).items()
            if not k.startswith("_") and type(v) is int and k != "training"
        }
        if attrs:
            out[name] = attrs
    return out


def set_int_attrs(model: nn.Module, attrs: dict[str, dict[str, int]]) -> None:
    modules = dict(model.named_modules())
    for name, values in attrs.items():
        module = modules.get(name)
        if module is None:
            continue
        for k, v in values.items():
            if type(getattr(module, k, None)) is int and type(v) is int:  # header is untrusted
                setattr(module, k, v)


def skeleton_record(model: nn.Module) -> dict:
    """What rebuilds `model`'s (possibly pruned) float architecture without its weights: the
    registry name it was built from, its int attributes and every tensor's shape."""
    arch = getattr(model, "weightlight_arch", None)
    return {
        "arch": json.dumps(arch) if arch is not None else "",
        "attrs": json.dumps(int_attrs(model)),
        "shapes": {
            k: list(v.shape) for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)
        },  # fmt: skip
    }


def read_record(record: dict, path: Path) -> tuple[dict | None, dict, dict[str, torch.Size]]:
    """(arch, int attributes, shapes) of a `skeleton_record` read back from a file."""
    try:
        arch = json.loads(record["arch"]) if record.get("arch") else None
        attrs = json.loads(record.get("attrs") or "{}")
        shapes = {k: torch.Size(v) for k, v in record["shapes"].items()}
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise malformed_record(path, "float") from None
    check_declared_size(shapes, path)
    if not (isinstance(arch, dict) and isinstance(arch.get("name"), str)):
        arch = None  # not a built-in: the caller needs a factory
    return arch, attrs if isinstance(attrs, dict) else {}, shapes


def malformed_record(path: Path, key: str) -> UserError:
    return UserError(
        f"'{path}' has a malformed '{key}' record in its header",
        "re-save the model with weightlight.models.save_model, or pass --model to rebuild it",
    )
