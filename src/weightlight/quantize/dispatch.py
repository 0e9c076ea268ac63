"""The verb and its registry: one handler per config type, registered by decorator.

Each method module registers two functions for its config type (torchao style):
- `@handler(Config)` `apply(model, config, data) -> new model`: the quantization itself;
- `@rebuilder(Config)` `rebuild(model, config, example_input) -> new model`: the same
  structure without data (no calibration, no training), so `load_quantized` can pour a saved
  quantized state_dict into it.
The verb looks the handler up by type, so adding a method never touches `quantize`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import torch
from pydantic import ValidationError
from torch import nn

from weightlight._registry import Registry
from weightlight._third_party import third_party
from weightlight.accelerator import use_device
from weightlight.config import Config, raw_validation_errors, user_error
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.models.skeleton import skeleton_record

Apply = Callable[[nn.Module, Config, "Data | None"], nn.Module]
Rebuild = Callable[[nn.Module, Config, torch.Tensor], nn.Module]

_APPLY: Registry[Apply] = Registry("quantization config", "use one of {names}")
_REBUILD: Registry[Rebuild] = Registry(
    "quantization config that can be reloaded", "use one of {names}"
)
handler = _APPLY.register  # `@handler(Config)`: the function that quantizes for that type
rebuilder = _REBUILD.register  # `@rebuilder(Config)`: the same structure, without data


def methods() -> dict[str, type[Config]]:
    """`method` literal -> config class, for every registered config."""
    return {cls.model_fields["method"].default: cls for cls in _APPLY}


def parse_config(config: Config | dict) -> Config:
    """A config instance from itself or from a dict with a `method` key (as in recipes).

    Example:
        >>> parse_config({"method": "half", "dtype": "bf16"}).dtype
        'bf16'
    """
    if isinstance(config, Config):
        _APPLY.lookup(config)
        return config
    if not isinstance(config, dict):
        raise UserError(
            f"a quantization config must be a config object or a dict, got {type(config).__name__}",
            "use e.g. wl.quantize.StaticInt8()",
        )
    known = methods()
    method = config.get("method")
    if method not in known:
        raise UserError(
            f"unknown quantization method {method!r}", f"use one of {', '.join(sorted(known))}"
        )
    try:
        with raw_validation_errors():
            return known[method].model_validate(config)
    except ValidationError as exc:
        raise user_error(exc, f"quantize.{method}", model=known[method]) from None


def quantize(
    model: nn.Module,
    config: Config | dict,
    data: Data | None = None,
    *,
    device: str | None = None,
) -> nn.Module:
    """Quantize a copy of `model` with `config`; the input model is left untouched.

    Args:
        model: a trained float model.
        config: one of `weightlight.quantize.CONFIGS` (or a dict with its `method`).
        data: needed by StaticInt8 (calibration on `data.calib`) and QAT (`data.train`);
            the other methods use it only for an example input when given.
        device: where calibration and QAT fine-tuning run (auto, cpu, cuda, cuda:N); default:
            the current `weightlight.accelerator.use_device` choice. The result is on the CPU.

    Returns:
        A new model, runnable in torch eager and measurable by `wl.measure`.

    Example:
        >>> import weightlight as wl
        >>> q = wl.quantize(wl.models.mlp(), wl.quantize.Dynamic())
        >>> type(q.net[1]).__name__
        'Linear'
    """
    config = parse_config(config)
    if not isinstance(model, nn.Module):
        raise UserError(
            f"quantize needs a torch nn.Module, got {type(model).__name__}",
            "quantize ONNX models with the export/ORT tools instead",
        )
    # Every quantized format here runs on CPU kernels: the copy starts on the CPU, and the
    # handlers that calibrate or train on a GPU bring their result back before converting.
    work = copy.deepcopy(model).eval().to("cpu")
    fix = "use wl.quantize.Dynamic or WeightOnly, or ONNX Runtime int8 (Export(quantize=...))"
    with use_device(device), third_party(f"quantize ({config.method})", fix):
        quantized = _APPLY.lookup(config)(work, config, data)
    example = data.example_batch(1) if data is not None else None
    # a plain attribute: kept by deepcopy, ignored by state_dict
    quantized.weightlight_quantized = provenance(model, config, example)
    return quantized


def provenance(model: nn.Module, config: Config, example) -> dict:
    """What a saved file needs to rebuild the quantized model without the code that made it.

    The example input is recorded as shapes and dtypes only: one tensor, or a dict batch's
    tensors by name (`named`).
    """

    def spec(t: torch.Tensor) -> dict:
        return {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}

    record = None
    if isinstance(example, torch.Tensor):
        record = spec(example)
    elif isinstance(example, dict):
        record = {"named": {str(k): spec(v) for k, v in example.items()}}
    return {"config": config_json(config), "float": skeleton_record(model), "example": record}


def config_json(config: Config) -> str:
    """The config as the JSON a saved quantized file records."""
    return json.dumps(parse_config(config).model_dump(mode="json"))


def rebuild(model: nn.Module, config: Config, example_input: torch.Tensor) -> nn.Module:
    """The quantized structure of `config` on a copy of the float `model`, without data."""
    return _REBUILD.lookup(config)(copy.deepcopy(model).eval(), config, example_input)


def layer_types(names: tuple[str, ...], field: str = "exclude_types") -> tuple[type, ...]:
    """torch.nn classes from their names ('Linear', 'Conv2d'), UserError on an unknown one."""
    out = []
    for name in names:
        cls = getattr(nn, name, None)
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise UserError(f"{field}: {name!r} is not a torch.nn layer type", "use e.g. Linear")
        out.append(cls)
    return tuple(out)
