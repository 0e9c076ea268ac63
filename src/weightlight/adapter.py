"""The one small per-model adapter: how to call a model with a batch and which output to read.

The idea is optimum-onnx's `OnnxConfig`: one description of a model's inputs, its output and
their dynamic axes, read by everything else (measurement, training, parity, ONNX export).
Here the inputs come from the batch itself (a tensor, tuple or dict, see `weightlight.batch`)
and the axes from the input names, with optimum's names for the text encoder inputs
(`TextEncoderOnnxConfig`: batch_size x sequence_length) and vision ones (`pixel_values`).

Example:
    >>> adapter = ModelAdapter(output="last_hidden_state", pooling="mean")
    >>> adapter.forward(bert, {"input_ids": ids, "attention_mask": mask}).shape
    torch.Size([2, 384])
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping

import torch
from torch import nn

from weightlight import batch as batches
from weightlight.errors import UserError
from weightlight.outputs import output_tensor
from weightlight.pooling import POOLINGS, pool

BATCH, SEQUENCE = "batch_size", "sequence_length"
# optimum-onnx's text encoder inputs: every one has a batch and a sequence axis.
_SEQUENCE_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


@dataclasses.dataclass(frozen=True)
class ModelAdapter:
    """Which output of the model is read, and how token states are pooled.

    Attributes:
        output: the output field read ("logits", "last_hidden_state", "pooler_output" ...);
            None reads the main one (logits if present, else the first field).
        pooling: "mean" (mask-weighted, sentence-transformers' default), "cls", "max" or None.
    """

    output: str | None = None
    pooling: str | None = None

    def __post_init__(self) -> None:
        if self.pooling is not None and self.pooling not in POOLINGS:
            raise UserError(
                f"unknown pooling '{self.pooling}'", f"use one of {', '.join(POOLINGS)}"
            )

    def forward(self, model, inputs: batches.Inputs) -> torch.Tensor:
        """Call `model` on one batch and return the tensor the task reads."""
        out = output_tensor(batches.call(model, inputs), self.output)
        if self.pooling is None:
            return out
        if out.dim() != 3:
            raise UserError(
                f"pooling '{self.pooling}' needs token states (batch, tokens, features), the "
                f"model's output has shape {tuple(out.shape)}",
                "declare output: last_hidden_state, or drop pooling",
            )
        mask = inputs.get("attention_mask") if isinstance(inputs, Mapping) else None
        return pool(out, mask, self.pooling)

    def check(self, model: nn.Module, inputs: batches.Inputs) -> None:
        """Fail in one line when the model and the data's batches do not fit together."""
        accepted = _forward_parameters(model)
        if isinstance(inputs, Mapping) and accepted is not None:
            unknown = [k for k in inputs if k not in accepted]
            if unknown:
                raise UserError(
                    f"the data's batches carry {', '.join(map(str, inputs))} but the model's "
                    f"forward() takes {', '.join(accepted) or 'no named inputs'} (no "
                    f"{', '.join(map(str, unknown))})",
                    "pair the model with data of its own inputs (a dict batch is passed as "
                    "model(**batch))",
                )
        if isinstance(inputs, Mapping) and "attention_mask" not in inputs:
            wants_mask = accepted is None or "attention_mask" in accepted
            if self.pooling in ("mean", "max") or (wants_mask and _padded(model, inputs)):
                raise UserError(
                    "the data's token batches carry no attention_mask, so padding would be "
                    "read as text",
                    "return attention_mask from the collate_fn (a tokenizer does with "
                    "padding=True)",
                )

    def module(self, model: nn.Module, like: batches.Inputs) -> AdaptedModel:
        """The model as ONNX sees it: the batch's tensors in, the task's tensor out."""
        return AdaptedModel(model, self, like)

    def onnx_axes(self, like: batches.Inputs, output: torch.Tensor) -> dict[str, dict]:
        """Dynamic axes of every graph input and of the output (named as optimum names them)."""
        axes = {name: _input_axes(name, t) for name, t in batches.tensors(like)}
        token_output = output.dim() >= 3 and any(1 in a for a in axes.values())
        axes[OUTPUT_NAME] = {0: BATCH, 1: SEQUENCE} if token_output else {0: BATCH}
        return axes


OUTPUT_NAME = "output"


class AdaptedModel(nn.Module):
    """A model called with positional tensors (the batch's, in order) returning one tensor."""

    def __init__(self, model: nn.Module, adapter: ModelAdapter, like: batches.Inputs) -> None:
        super().__init__()
        self.model, self.adapter, self.like = model, adapter, like
        self.input_names = [name for name, _ in batches.tensors(like)]

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.adapter.forward(self.model, batches.rebuild(self.like, list(tensors)))


def _input_axes(name: str, t: torch.Tensor) -> dict[int, str]:
    if name in _SEQUENCE_INPUTS or (not t.is_floating_point() and t.dim() == 2):
        return {0: BATCH, 1: SEQUENCE}
    return {0: BATCH}


def _forward_parameters(model) -> list[str] | None:
    """Names forward() takes by keyword; None when it takes **kwargs (anything goes).

    A Hugging Face model's **kwargs carry attention options, never inputs: its named
    parameters are the whole list.
    """
    target = model.forward if isinstance(model, nn.Module) else model
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    is_hf = hasattr(getattr(model, "config", None), "model_type")
    if not is_hf and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _padded(model, inputs: Mapping) -> bool:
    """Whether the batch's input_ids hold the model's pad token (a mask is then needed)."""
    pad = getattr(getattr(model, "config", None), "pad_token_id", None)
    ids = inputs.get("input_ids")
    return pad is not None and isinstance(ids, torch.Tensor) and bool((ids == pad).any())
