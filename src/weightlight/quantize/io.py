"""Save and reload quantized models: quantized state_dict + the config that made them.

Why not pickle or `.pt2`: pickling a converted FX GraphModule runs code on load, and a
`.pt2` of a torch.ao model keeps the fp32 weights too. Instead the file holds the quantized
state_dict (int8 tensors, packed params, scales) and the config as JSON; loading rebuilds the
same quantized structure on the float architecture (no data needed) and pours the state in.
`torch.load(weights_only=True)` reads it, so a file cannot import code.

A model made by `wl.quantize` also records its float architecture (registry name, int
attributes, tensor shapes: `models.skeleton.skeleton_record`) and the example input's shape, so its
file reloads on its own: `wl.models.load_model("pruned-int8.pt")` (a pruned built-in model
included; a user architecture needs `factory=` / `--model`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from weightlight._io import atomic_path
from weightlight.config import Config
from weightlight.errors import UserError
from weightlight.models.io import PT_LOADERS, PT_SAVERS, skeleton_from_record
from weightlight.quantize import _fx
from weightlight.quantize.dispatch import config_json, parse_config, rebuild

FORMAT = "weightlight-quantized/1"
# dtypes an example input may have (the file is untrusted: no getattr on arbitrary names)
_EXAMPLE_DTYPES = {
    "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int64": torch.int64, "int32": torch.int32,
}  # fmt: skip


def save_quantized(model: nn.Module, path: str | Path, config: Config | None = None) -> Path:
    """Write `model` (made by `wl.quantize(..., config)`) to `path` (.pt), atomically.

    `config` may be left out for a model made by `wl.quantize` (it remembers its own).

    Example:
        >>> import weightlight as wl, tempfile, os
        >>> cfg = wl.quantize.Dynamic()
        >>> q = wl.quantize(wl.models.mlp(), cfg)
        >>> p = save_quantized(q, os.path.join(tempfile.mkdtemp(), "q.pt"), cfg)
        >>> type(load_quantized(p, wl.models.mlp(), torch.zeros(1, 784)).net[1]).__name__
        'Linear'
    """
    path = Path(path)
    if path.suffix not in (".pt", ".pth"):
        raise UserError(f"quantized models are saved as .pt, got {path.name!r}", "use a .pt name")
    payload = quantized_payload(model, config)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


@PT_SAVERS.register("weightlight_quantized")  # the attribute wl.quantize sets
def quantized_payload(model: nn.Module, config: Config | None = None) -> dict:
    """The dict `save_quantized` writes (what `torch.load(weights_only=True)` reads back)."""
    known = dict(getattr(model, "weightlight_quantized", None) or {})
    if config is not None:
        known["config"] = config_json(config)
    if "config" not in known:
        raise UserError("save_quantized needs the config that made the model",
                        "pass config=, or quantize with wl.quantize (it records it)")  # fmt: skip
    return {"format": FORMAT, **known, "state_dict": model.state_dict()}


def load_quantized(path: str | Path, model: nn.Module, example_input: torch.Tensor) -> nn.Module:
    """Rebuild the quantized model saved at `path` on `model` (the float architecture).

    Args:
        path: a file written by `save_quantized`.
        model: an instance of the float architecture (its weights are not used).
        example_input: one input batch (FX tracing needs it for static / QAT models).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no quantized model at {path}", "check the path")
    try:
        with _fx.quiet():
            payload = torch.load(path, weights_only=True)
    except Exception as exc:  # corrupt file or another format: say which file
        raise UserError(f"{path} is not a quantized model file ({type(exc).__name__})",
                        "pass a file written by save_quantized") from None  # fmt: skip
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path} is not a {FORMAT} file", "pass a file written by save_quantized")
    return _rebuild_and_load(payload, model, example_input, path)


@PT_LOADERS.register(FORMAT)
def load_quantized_payload(payload: dict, path: Path, factory=None) -> nn.Module:
    """A self-contained quantized file (one that records its float architecture), rebuilt."""
    record, example = payload.get("float"), payload.get("example")
    if not isinstance(record, dict):
        raise UserError(
            f"{path} holds a quantized state without its float architecture",
            "load it with wl.quantize.load_quantized(path, float_model, example_input)",
        )
    skeleton = skeleton_from_record(record, path, factory)
    inputs = None
    if isinstance(example, dict) and isinstance(example.get("named"), dict):
        inputs = {str(k): _zeros(v, path) for k, v in example["named"].items()}
    elif isinstance(example, dict):
        inputs = _zeros(example, path)
    return _rebuild_and_load(payload, skeleton, inputs, path)


def _zeros(example: dict, path: Path) -> torch.Tensor:
    """A zero tensor of a recorded shape and dtype (checked: the file is untrusted)."""
    dtype = _EXAMPLE_DTYPES.get(str(example.get("dtype")))
    shape = example.get("shape")
    if (
        dtype is None
        or not isinstance(shape, list)
        or not all(isinstance(d, int) and 0 < d <= 1 << 20 for d in shape)
    ):
        raise UserError(f"{path} has a malformed example-input record",
                        "re-save the model with wl.quantize.save_quantized")  # fmt: skip
    return torch.zeros(shape, dtype=dtype)


def _rebuild_and_load(payload: dict, model: nn.Module, example_input, path: Path) -> nn.Module:
    try:
        config = parse_config(json.loads(payload["config"]))
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{path} has a malformed quantization config",
                        "re-save the model with wl.quantize.save_quantized") from None  # fmt: skip
    skeleton = rebuild(model, config, example_input)
    try:
        with _fx.quiet():
            skeleton.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise UserError(
            f"{path} does not fit this architecture ({str(exc).splitlines()[0][:160]})",
            "pass the float model the quantized one was made from",
        ) from None
    # so that saving the reloaded model again writes a self-contained file too
    skeleton.weightlight_quantized = {k: payload[k] for k in ("config", "float", "example")
                                      if k in payload}  # fmt: skip
    return skeleton.eval()
