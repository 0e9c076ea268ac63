"""Save and reload quantized models: quantized state_dict + the config that made them.

Why not pickle or `.pt2`: pickling a converted FX GraphModule runs code on load, and a
`.pt2` of a torch.ao model keeps the fp32 weights too. Instead the file holds the quantized
state_dict (int8 tensors, packed params, scales) and the config as JSON; loading rebuilds the
same quantized structure on the float architecture (no data needed) and pours the state in.
`torch.load(weights_only=True)` reads it, so a file cannot import code.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from weightlight._io import atomic_path
from weightlight.config import Config
from weightlight.errors import UserError
from weightlight.quantize import _fx
from weightlight.quantize.dispatch import parse_config, rebuild

FORMAT = "weightlight-quantized/1"


def save_quantized(model: nn.Module, path: str | Path, config: Config) -> Path:
    """Write `model` (made by `wl.quantize(..., config)`) to `path` (.pt), atomically.

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
    payload = {
        "format": FORMAT,
        "config": json.dumps(parse_config(config).model_dump(mode="json")),
        "state_dict": model.state_dict(),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


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
    config = parse_config(json.loads(payload["config"]))
    skeleton = rebuild(model, config, example_input)
    try:
        with _fx.quiet():
            skeleton.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise UserError(
            f"{path} does not fit this architecture ({str(exc).splitlines()[0][:160]})",
            "pass the float model the quantized one was made from",
        ) from None
    return skeleton.eval()
