"""The function each recipe stage runs to make its variant from its parent model."""

from __future__ import annotations

import copy

from torch import nn

from weightlight.data import Data
from weightlight.distill import distill
from weightlight.errors import UserError
from weightlight.export.stage import export
from weightlight.pipeline.state import RunState
from weightlight.prune.dispatch import prune
from weightlight.quantize.dispatch import quantize
from weightlight.train import train

# Distillation methods whose teacher is the student itself or its peers, not another model.
_NO_TEACHER = ("online", "self")


def stage_runner(kind: str, config, data: Data, state: RunState, teacher, name: str):
    """The function that makes the variant of one stage from its parent model."""

    def apply(parent):
        if kind == "export":
            return export(_as_module(parent), config, data, state.out / "models" / f"{name}.onnx")
        model = copy.deepcopy(_as_module(parent))
        if kind == "finetune":
            return train(model, data, progress=False, **config.train_kwargs())
        if kind == "distill":
            return distill(model, config, data, teacher=_teachers(config, teacher, state))
        verb = {"prune": prune, "quantize": quantize}[kind]
        return verb(model, config, data)

    return apply


def _teachers(config, teacher, state: RunState):
    """The teacher model(s) of a distill stage: `base` unless the stage names others."""
    if teacher is None and getattr(config, "method", None) in _NO_TEACHER:
        return None
    names = [teacher or "base"] if not isinstance(teacher, list) else teacher
    models = [state.model(n) for n in names]
    missing = [n for n, m in zip(names, models, strict=True) if m is None]
    if missing:
        raise UserError(f"teacher {missing[0]!r} is not available", "its stage must succeed first")
    return models if isinstance(teacher, list) else models[0]


def baseline_runner(make, data: Data, state: RunState, name: str):
    return lambda parent: make(_as_module(parent), data, state.out / "models" / name)


def _as_module(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise UserError(
            f"this stage needs a PyTorch model but its parent is a {type(model).__name__}",
            "put export stages last, or branch from a torch variant with 'from:'",
        )
    return model
