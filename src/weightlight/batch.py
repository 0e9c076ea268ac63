"""Batches as models take them: a tensor, a tuple of tensors, or a dict of named tensors.

A loader yields either `(inputs, targets)` pairs, a dict whose `labels` (or `label`) entry is
the target and whose other entries are the model's inputs (the Hugging Face convention), or
bare inputs without targets (unlabelled text for an embedding task). `inputs` itself is a
tensor (`model(x)`), a tuple (`model(*x)`) or a dict (`model(**x)`, e.g. `input_ids`,
`attention_mask`, `token_type_ids`, `pixel_values`). Every layer passes batches through these
helpers untouched, so no layer guesses a batch's form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

Inputs = torch.Tensor | tuple | list | Mapping
LABEL_KEYS = ("labels", "label")


def split(batch) -> tuple[Inputs, torch.Tensor | None]:
    """(inputs, targets) of one loader batch; targets is None for unlabelled batches.

    Example:
        >>> split({"input_ids": ids, "attention_mask": mask, "labels": y})[1] is y
        True
    """
    if isinstance(batch, Mapping):
        targets = next((batch[k] for k in LABEL_KEYS if k in batch), None)
        return {k: v for k, v in batch.items() if k not in LABEL_KEYS}, targets
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    if isinstance(batch, (tuple, list)) and len(batch) == 1:
        return batch[0], None
    return batch, None


def call(model: Callable, inputs: Inputs):
    """Call `model` the way the batch form says: model(x), model(*x) or model(**x)."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def tensors(inputs: Inputs) -> list[tuple[str, torch.Tensor]]:
    """The batch's tensors with a name each: dict keys, `input_<i>` for a tuple, `input`."""
    if isinstance(inputs, Mapping):
        return [(str(k), v) for k, v in inputs.items()]
    if isinstance(inputs, (tuple, list)):
        return [(f"input_{i}", v) for i, v in enumerate(inputs)]
    return [("input", inputs)]


def rebuild(like: Inputs, values: list[torch.Tensor]) -> Inputs:
    """A batch of the same form as `like` holding `values` (in `tensors(like)` order)."""
    if isinstance(like, Mapping):
        return dict(zip(like.keys(), values, strict=True))
    if isinstance(like, (tuple, list)):
        return tuple(values)
    return values[0]


def apply(inputs: Inputs, fn: Callable[[torch.Tensor], torch.Tensor]) -> Inputs:
    """`fn` applied to every tensor of the batch, keeping its form."""
    return rebuild(inputs, [fn(t) for _, t in tensors(inputs)])


def size(inputs: Inputs) -> int:
    """Samples in the batch (the first axis of its first tensor)."""
    return int(tensors(inputs)[0][1].shape[0])


def take(inputs: Inputs, count: int) -> Inputs:
    """The first `count` samples of the batch."""
    return apply(inputs, lambda t: t[:count].clone())


def repeat(inputs: Inputs, batch_size: int) -> Inputs:
    """The batch's first sample repeated `batch_size` times (latency, export, MACs)."""
    return apply(inputs, lambda t: t[:1].repeat(batch_size, *([1] * (t.dim() - 1))))


def cast_floats(inputs: Inputs, dtype: torch.dtype) -> Inputs:
    """Float tensors to `dtype` (an fp16 / bf16 model); integer ones (token ids, masks) kept."""
    return apply(inputs, lambda t: t.to(dtype) if t.is_floating_point() else t)


def to_device(inputs: Inputs, device: torch.device | str) -> Inputs:
    return apply(inputs, lambda t: t.to(device))


def describe(inputs: Inputs) -> str:
    """For messages: `shape (2, 1, 28, 28), dtype float32` for a tensor, else each named
    tensor: `input_ids (2, 16) int64, attention_mask (2, 16) int64`."""
    if isinstance(inputs, torch.Tensor):
        return f"shape {tuple(inputs.shape)}, dtype {str(inputs.dtype).removeprefix('torch.')}"
    return ", ".join(
        f"{name} {tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}"
        for name, t in tensors(inputs)
    )


def first_sample(loader) -> Inputs:
    """One sample (batch of 1) of a loader's first batch: the example input of a Data bundle."""
    inputs, _ = split(next(iter(loader)))
    return take(inputs, 1)
