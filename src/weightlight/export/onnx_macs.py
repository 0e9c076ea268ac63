"""Multiply-accumulates of an ONNX graph, counted from its nodes after shape inference.

Only the ops that dominate compute are counted: Conv (and its int8 / fused forms) and
Gemm / MatMul (and theirs), plus the fused transformer Attention node. Elementwise ops are
ignored, as torch's flop counter does. Returns None when a counted node's shape cannot be
inferred, rather than a number that silently leaves it out.
"""

from __future__ import annotations

import math
from pathlib import Path

import onnx
from onnx import shape_inference

_CONV = {"Conv", "ConvInteger", "QLinearConv", "FusedConv"}
_MATMUL = {"MatMul", "MatMulInteger", "QLinearMatMul", "Gemm", "FusedMatMul",
           "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}  # fmt: skip


def count_onnx_macs(
    path: str | Path, input_shape: tuple[int, ...] | dict[str, tuple[int, ...]]
) -> int | None:
    """MACs of one forward pass on inputs of these shapes (symbolic dims fixed to them).

    `input_shape` is the first input's shape, or every input's shape by name.

    Example:
        >>> count_onnx_macs("cnn.onnx", (1, 1, 28, 28))
        12025472
    """
    model = onnx.load(str(path))
    if not isinstance(input_shape, dict):
        input_shape = {model.graph.input[0].name: tuple(input_shape)}
    for graph_input in model.graph.input:
        if graph_input.name not in input_shape:
            continue
        dims = graph_input.type.tensor_type.shape.dim
        shape = input_shape[graph_input.name]
        if len(dims) != len(shape):
            return None
        for dim, size in zip(dims, shape, strict=True):
            dim.ClearField("dim_param")
            dim.dim_value = size
    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        return None
    shapes = _known_shapes(inferred)
    total = 0
    for node in inferred.graph.node:
        if node.op_type in _CONV:
            macs = _conv_macs(node, shapes)
        elif node.op_type in _MATMUL:
            macs = _matmul_macs(node, shapes)
        elif node.op_type == "Attention":
            macs = _attention_macs(node, shapes)
        else:
            continue
        if macs is None:
            return None
        total += macs
    return total


def _known_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    values = list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
    for v in values:
        dims = v.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[v.name] = tuple(d.dim_value for d in dims)
    for init in model.graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes


def _weight_input(node: onnx.NodeProto) -> str:
    # QLinear ops interleave scales and zero points: (x, x_scale, x_zp, w, ...).
    return node.input[3] if node.op_type.startswith("QLinear") else node.input[1]


def _conv_macs(node, shapes) -> int | None:
    out, w = shapes.get(node.output[0]), shapes.get(_weight_input(node))
    if out is None or w is None:
        return None
    # Each output element takes (C_in / groups) * kH * kW multiply-adds; w is (C_out, C_in/g, k...).
    return math.prod(out) * math.prod(w[1:])


def _matmul_macs(node, shapes) -> int | None:
    a, out = shapes.get(node.input[0]), shapes.get(node.output[0])
    if a is None or out is None:
        return None
    trans_a = any(at.name == "transA" and at.i for at in node.attribute)
    k = a[-2] if trans_a and len(a) >= 2 else a[-1]
    return math.prod(out) * k


def _attention_macs(node, shapes) -> int | None:
    """com.microsoft Attention: the QKV projection plus QK^T and attention x V."""
    x, w = shapes.get(node.input[0]), shapes.get(node.input[1])
    if x is None or w is None or len(x) != 3:
        return None
    batch, seq, hidden = x
    qkv = batch * seq * hidden * w[-1]
    scores = 2 * batch * seq * seq * (w[-1] // 3)
    return qkv + scores
