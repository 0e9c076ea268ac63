"""One place that turns whatever a model returns into the tensor weightlight reads.

Models return a tensor, a tuple (first element: the main output), a dict, or a Hugging Face
`ModelOutput` (an ordered dict whose `None` fields are skipped). Without a declared name the
main output is read: `logits` when the output has them, else its first field
(`last_hidden_state` for an encoder). A declared name (`output: pooler_output`) reads that
field and fails in one line, listing the fields there are, when the model has no such output.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from weightlight.errors import UserError


def output_tensor(out, name: str | None = None) -> torch.Tensor:
    """The tensor to read from a model's output.

    Args:
        out: what the model returned.
        name: the declared output (e.g. "logits", "last_hidden_state"); None: the main one.

    Example:
        >>> output_tensor(bert(**batch), "last_hidden_state").shape
        torch.Size([2, 16, 384])
    """
    if name is not None:
        return _named(out, name)
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping):
        if out.get("logits") is not None:
            return out["logits"]
        values = [v for v in out.values() if isinstance(v, torch.Tensor)]
        if values:
            return values[0]
    if isinstance(out, (tuple, list)) and out:
        return output_tensor(out[0])
    for field in ("logits", "last_hidden_state"):  # output objects that are not dicts
        value = getattr(out, field, None)
        if isinstance(value, torch.Tensor):
            return value
    raise UserError(
        f"the model returned a {type(out).__name__}, which holds no output tensor",
        "return a tensor, a tuple or a ModelOutput from forward()",
    )


def output_names(out) -> list[str]:
    """The names a declared output can take for this model output (for messages)."""
    if isinstance(out, Mapping):
        return [str(k) for k, v in out.items() if isinstance(v, torch.Tensor)]
    return []


def _named(out, name: str) -> torch.Tensor:
    value = out.get(name) if isinstance(out, Mapping) else getattr(out, name, None)
    if isinstance(value, torch.Tensor):
        return value
    have = output_names(out)
    raise UserError(
        f"the model has no output '{name}' (its outputs: "
        f"{', '.join(have) if have else 'one unnamed ' + type(out).__name__})",
        f"declare one of {', '.join(have)}" if have else "leave the output undeclared",
    )
