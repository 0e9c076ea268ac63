"""MACs from `torch.utils.flop_counter` (one multiply-accumulate = two FLOPs), int8 ops included.

torch's counter knows float matmuls, convolutions and attention, but not the quantized kernels
an int8 model runs (`quantized::linear`, `quantized::linear_dynamic`, `quantized::conv2d_relu`
...): their weights are packed into an opaque object. Without them an int8 model counted
only its float leftovers (a dynamic-int8 BERT: its attention products, 4 % of the total) or
nothing at all ("?"). Here each such op counts from its unpacked weight's shape and the
output it produced, the same definition as the float op it replaces.

Nor does it know the CPU kernel of `scaled_dot_product_attention`
(`aten._scaled_dot_product_flash_attention_for_cpu`, which every CPU call runs, masked or not):
it counts the GPU kernels only, so a Hugging Face model with its default "sdpa" attention
counted its projections but not its attention products (QK^T and AV), on CPU. That op counts
here with torch's own SDPA formula (grouped-query included), the same figure the eager
attention's matmuls give.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from weightlight import batch as batches


def count_macs(model: nn.Module, inputs: batches.Inputs) -> int | None:
    """Multiply-accumulates of one forward pass on `inputs` (whole batch).

    Returns None when the forward fails under the counter, or when nothing was counted (a
    model whose every op is one the counter cannot see), rather than a misleading zero.

    Example:
        >>> count_macs(nn.Linear(8, 4), torch.zeros(2, 8))
        64
    """
    counter = FlopCounterMode(display=False, custom_mapping=_uncounted_ops())
    try:
        with torch.no_grad(), counter:
            batches.call(model, inputs)
    except Exception:
        return None
    flops = counter.get_total_flops()
    return flops // 2 if flops > 0 else None


def _linear_flops(x, packed, *args, out_val=None, **kwargs) -> int:
    """quantized::linear* (static and dynamic): every output element sums `in_features`
    products of the (out, in) weight."""
    weight = _unpack_linear(packed)
    return 2 * out_val.numel() * weight.shape[1]


def _conv_flops(x, packed, *args, out_val=None, **kwargs) -> int:
    """quantized::conv*d: weight (C_out, C_in / groups, k...): every output element sums
    C_in / groups x k... products."""
    weight, _ = packed.unpack()
    return 2 * out_val.numel() * math.prod(weight.shape[1:])


def _conv_transpose_flops(x, packed, *args, out_val=None, **kwargs) -> int:
    """quantized::conv_transpose*d: weight (C_in, C_out / groups, k...): every input element is
    scattered into C_out / groups x k... outputs."""
    weight, _ = packed.unpack()
    return 2 * x.numel() * math.prod(weight.shape[1:])


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """aten._scaled_dot_product_flash_attention_for_cpu: q (B, H, L, E), k / v (B, H_kv, S, E):
    QK^T and AV, as torch counts its GPU attention kernels (a causal mask is not discounted)."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _unpack_linear(packed) -> torch.Tensor:
    try:
        return torch.ops.quantized.linear_unpack(packed)[0]
    except RuntimeError:  # fp16 dynamic Linear packs its weight another way
        return torch.ops.quantized.linear_unpack_fp16(packed)[0]


_LINEAR = ("linear", "linear_relu", "linear_dynamic", "linear_relu_dynamic",
           "linear_dynamic_fp16", "linear_relu_dynamic_fp16", "linear_leaky_relu",
           "linear_tanh")  # fmt: skip
_CONV = ("conv1d", "conv2d", "conv3d", "conv1d_relu", "conv2d_relu", "conv3d_relu",
         "conv2d_add", "conv2d_add_relu")  # fmt: skip
_CONV_TRANSPOSE = ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
_CPU_SDPA = ("_scaled_dot_product_flash_attention_for_cpu",)


def _uncounted_ops() -> dict:
    """{op packet: flop function} for the quantized ops this torch build has (they take the raw
    arguments, `_get_raw`, since a packed weight has no shape of its own) and CPU attention."""
    mapping = {}
    for names, fn in ((_LINEAR, _linear_flops), (_CONV, _conv_flops),
                      (_CONV_TRANSPOSE, _conv_transpose_flops)):  # fmt: skip
        fn._get_raw = True
        for name in names:
            try:
                mapping[getattr(torch.ops.quantized, name)] = fn
            except (AttributeError, RuntimeError):  # not in this torch build
                continue
    for name in _CPU_SDPA:  # takes shapes (no `_get_raw`), like torch's own formulas
        packet = getattr(torch.ops.aten, name, None)
        if packet is not None:
            mapping[packet] = _cpu_sdpa_flops
    return mapping
