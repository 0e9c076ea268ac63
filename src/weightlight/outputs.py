"""The one place that knows what a model's forward may return.

Built-in models return a tensor; Hugging Face models return a `ModelOutput` (`.logits`, or
`.last_hidden_state` first for a bare encoder); other code returns a tuple or dict whose first
item is the prediction. Measuring, exporting, pruning and distilling all want that one tensor.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def output_tensor(out) -> torch.Tensor:
    """The prediction tensor in a model's output: itself, `[0]`, `.logits`, or the first value.

    Example:
        >>> output_tensor((torch.ones(2, 3), "aux")).shape
        torch.Size([2, 3])
    """
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return out[0]
    if isinstance(out, Mapping) and out:  # a dict, or a ModelOutput (an ordered dict)
        return out["logits"] if "logits" in out else next(iter(out.values()))
    for name in ("logits", "last_hidden_state"):
        value = getattr(out, name, None)
        if value is not None:
            return value
    return out
