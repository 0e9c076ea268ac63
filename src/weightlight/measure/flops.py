"""MACs from `torch.utils.flop_counter` (one multiply-accumulate = two FLOPs)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from weightlight import batch as batches


def count_macs(model: nn.Module, inputs: batches.Inputs) -> int | None:
    """Multiply-accumulates of one forward pass on `inputs` (whole batch).

    Returns None when the model runs ops the counter cannot see (e.g. quantized kernels),
    rather than a misleading partial count.
    """
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            batches.call(model, inputs)
    except Exception:
        return None
    flops = counter.get_total_flops()
    return flops // 2 if flops > 0 else None
