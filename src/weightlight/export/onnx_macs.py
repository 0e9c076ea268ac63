"""Multiply-accumulates of an ONNX graph, counted from its nodes after shape inference.

Every op that multiplies by weights is counted: Conv / ConvTranspose (and the int8 / fused
forms), Gemm / MatMul (and MatMulInteger, QLinearMatMul, QGemm, MatMulNBits, ...), Einsum of
two operands, and the com.microsoft attention nodes (Attention, QAttention,
MultiHeadAttention). Elementwise and data-movement ops are not counted, as torch's flop counter
does not count them. A QDQ graph (DequantizeLinear -> MatMul / Conv) counts at its MatMul / Conv.

Shapes come from ONNX shape inference; where it stops (it does not know ORT's contrib ops, so
everything after a fused EmbedLayerNormalization of a transformer had no shape and the encoder's
count was "?"), the graph is run once in ONNX Runtime on zeros of the given shapes, with every
node output exposed, and the shapes it produced are read. The count is None (shown as "?")
rather than a number that silently leaves something out when a counted node's shape is still
unknown, or when an op this module does not know takes a weight (an initializer of rank >= 2:
an RNN, a custom op).
"""

from __future__ import annotations

import math
from pathlib import Path

from weightlight._lazy import lazy_import

onnx = lazy_import("onnx")  # ~1.2 s to import: only when a graph is touched

_CONV = {"Conv", "ConvInteger", "QLinearConv", "FusedConv", "NhwcConv"}
_MATMUL = {"MatMul", "MatMulInteger", "QLinearMatMul", "Gemm", "FusedMatMul", "FusedGemm",
           "QGemm", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulNBits",
           "MatMulFpQ4", "MatMulBnb4"}  # fmt: skip
_ATTENTION = {"Attention", "QAttention"}
# Ops that read a weight-shaped initializer without multiplying by it as a matrix: lookups,
# norms, elementwise arithmetic, (de)quantization, shape plumbing. Zero MACs, on purpose.
_NO_MACS = {
    "Gather", "GatherElements", "GatherND", "EmbedLayerNormalization", "Add", "Sub", "Mul",
    "Div", "Pow", "Where", "Equal", "Less", "Greater", "Max", "Min", "Concat", "Reshape",
    "Expand", "Tile", "Slice", "Split", "Transpose", "Unsqueeze", "Squeeze", "Flatten",
    "LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization",
    "SkipSimplifiedLayerNormalization", "BatchNormalization", "InstanceNormalization",
    "GroupNormalization", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
    "QLinearAdd", "QLinearMul", "BiasGelu", "FastGelu", "Gelu", "BiasAdd", "Cast", "Clip",
    "Pad", "Resize", "PRelu", "ScatterND", "ScatterElements", "Range", "ConstantOfShape",
    "QEmbedLayerNormalization", "RotaryEmbedding", "GemmaRotaryEmbedding", "QLinearSigmoid",
    "QLinearLeakyRelu", "QLinearConcat", "QLinearAveragePool", "QLinearGlobalAveragePool",
    "QLinearSoftmax", "QLinearReduceMean", "QLinearWhere", "SkipGroupNorm", "RMSNormalization",
    "QuickGelu", "BiasSplitGelu", "BiasSoftmax",
}  # fmt: skip


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
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        return None
    shapes = _known_shapes(inferred)
    weights = {i.name for i in inferred.graph.initializer if len(i.dims) >= 2}
    total = _total(inferred, shapes, weights)
    if total is None:  # a counted node without a shape: read the shapes from a run
        ran = _run_shapes(model, input_shape)
        total = _total(inferred, {**shapes, **ran}, weights) if ran else None
    return total


def _total(model: onnx.ModelProto, shapes: dict, weights: set[str]) -> int | None:
    total = 0
    for node in model.graph.node:
        macs = node_macs(node, shapes, weights)
        if macs is None:
            return None
        total += macs
    return total


def _run_shapes(model: onnx.ModelProto, input_shape: dict) -> dict[str, tuple[int, ...]]:
    """Every node output's shape from one ONNX Runtime run on zeros of the input shapes ({}
    when the graph does not run). Fusions are off, so the nodes that run are the stored ones."""
    import numpy as np
    import onnxruntime as ort
    from onnx import helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    listed = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        for name in node.output:
            if name and name not in listed:
                probe.graph.output.append(onnx.ValueInfoProto(name=name))
                listed.add(name)
    feeds = {}
    for graph_input in probe.graph.input:
        if graph_input.name in input_shape:
            dtype = helper.tensor_dtype_to_np_dtype(graph_input.type.tensor_type.elem_type)
            feeds[graph_input.name] = np.zeros(input_shape[graph_input.name], dtype=dtype)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(
            probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        values = session.run(None, feeds)
    except Exception:
        return {}
    return {o.name: tuple(np.shape(v)) for o, v in zip(session.get_outputs(), values, strict=True)}


def node_macs(node: onnx.NodeProto, shapes: dict, weights: set[str]) -> int | None:
    """MACs of one node; 0 for ops without a matrix product; None if it cannot be counted."""
    op = node.op_type
    if op in _CONV:
        return _conv_macs(node, shapes)
    if op == "ConvTranspose":
        return _conv_transpose_macs(node, shapes)
    if op in _MATMUL:
        return _matmul_macs(node, shapes)
    if op in _ATTENTION:
        return _attention_macs(node, shapes)
    if op == "MultiHeadAttention":
        return _mha_macs(node, shapes)
    if op == "Einsum":
        return _einsum_macs(node, shapes)
    if op in _NO_MACS or not any(name in weights for name in node.input):
        return 0
    return None  # an op with weights this module does not understand


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


def _conv_transpose_macs(node, shapes) -> int | None:
    x, w = shapes.get(node.input[0]), shapes.get(node.input[1])
    if x is None or w is None:
        return None
    # Each input element is scattered into (C_out / groups) * kH * kW outputs; w is
    # (C_in, C_out/g, k...), so the count is elements of x times elements of w[1:].
    return math.prod(x) * math.prod(w[1:])


def _matmul_macs(node, shapes) -> int | None:
    """Elements of the output times the shared dimension K (A's last, or first if transA)."""
    a, out = shapes.get(node.input[0]), shapes.get(node.output[0])
    if a is None or out is None:
        return None
    if node.op_type == "MatMulNBits":  # B is packed: K is an attribute
        k = next((at.i for at in node.attribute if at.name == "K"), None)
        return math.prod(out) * k if k else None
    trans_a = any(at.name == "transA" and at.i for at in node.attribute)
    k = a[-2] if trans_a and len(a) >= 2 else a[-1]
    return math.prod(out) * k


def _einsum_macs(node, shapes) -> int | None:
    """Two operands: the product of every index's size (each output element sums over the
    contracted ones). One operand is a reduction or transpose (no MACs); more are not counted."""
    if len(node.input) == 1:
        return 0
    equation = next((at.s.decode() for at in node.attribute if at.name == "equation"), "")
    inputs = [shapes.get(name) for name in node.input]
    terms = equation.replace(" ", "").split("->")[0].split(",")
    if len(inputs) != 2 or None in inputs or len(terms) != 2 or "..." in equation:
        return None
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, inputs, strict=True):
        if len(term) != len(shape):
            return None
        for letter, size in zip(term, shape, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), size)
    return math.prod(sizes.values())


def _attention_macs(node, shapes) -> int | None:
    """com.microsoft (Q)Attention: the QKV projection plus QK^T and attention x V.

    Inputs are (x, packed QKV weight (hidden, q + k + v hidden), ...) for both; the three
    widths are equal unless the `qkv_hidden_sizes` attribute says otherwise."""
    x, w = shapes.get(node.input[0]), shapes.get(node.input[1])
    if x is None or w is None or len(x) != 3:
        return None
    batch, seq, hidden = x
    sizes = next((list(at.ints) for at in node.attribute if at.name == "qkv_hidden_sizes"), None)
    q_width, _, v_width = sizes if sizes and len(sizes) == 3 else [w[-1] // 3] * 3
    qkv = batch * seq * hidden * w[-1]
    return qkv + batch * seq * seq * q_width + batch * seq * seq * v_width


def _mha_macs(node, shapes) -> int | None:
    """com.microsoft MultiHeadAttention (projections are separate MatMuls, counted there):
    QK^T plus attention x V. Query (B, S, D) with key / value (B, L, D) or already split into
    heads (B, N, L, H); or query packed with key and value as (B, S, N, 3, H)."""
    names = list(node.input) + ["", ""]
    q, k, v = (shapes.get(n) if n else None for n in names[:3])
    if q is not None and len(q) == 5 and k is None and v is None:  # packed QKV
        batch, seq, heads, _, head = q
        return 2 * batch * heads * seq * seq * head
    if q is None or k is None or v is None or len(q) != 3 or {len(k), len(v)} - {3, 4}:
        return None
    batch, seq, dim_qk = q
    keys = k[1] if len(k) == 3 else k[2]
    dim_v = v[2] if len(v) == 3 else v[1] * v[3]
    return batch * seq * keys * dim_qk + batch * seq * keys * dim_v
