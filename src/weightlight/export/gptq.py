"""GPTQ (Frantar et al., 2022, arXiv:2210.17323) for the MatMul weights of an ONNX graph,
written as ONNX Runtime `MatMulNBits` on the grid ORT's own round-to-nearest uses.

For one MatMul `Y = X W` (W: [K in, N out]) GPTQ picks integers that keep the *output* on the
calibration tokens close: it minimises tr((W - Q)^T H (W - Q)) with H = X^T X, the Hessian of
that squared error. It rounds one input channel k at a time and moves the rounding error onto
the channels not yet rounded, in proportion to the Cholesky factor of H^-1 (row k), so channels
that correlate with k absorb it. With H = I nothing moves and GPTQ is exactly round-to-nearest:
that is what the mechanism test switches off.

Each block of `block_size` input channels takes its scale (and zero point) from its weights as
they stand when the block starts, i.e. after the earlier blocks' errors were moved onto it, the
way the reference code does with `groupsize == blocksize`; the scale formula is ORT's RTN one
(symmetric: the signed largest magnitude maps to -2^(bits-1); asymmetric: min/max with 0
inside), so `H = I` reproduces ORT's RTN bytes.

Why not ORT 1.32's own `GPTQWeightOnlyQuantConfig`: its GPTQ (`neural_compressor.weight_only`)
returns the de-quantized weights on its own grid and then quantizes them a second time with a
different scale formula (`quant_tensor`), so ~88 % of the integers it writes are not GPTQ's
(symmetric, block 32, the tiny LM of tests/lm): the layers' output error came out 2-4x GPTQ's
own, and perplexity worse than RTN. Its asymmetric path fails on an odd number of blocks per
row (it packs zero points across rows). docs/quantization.md has the figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from weightlight._lazy import lazy_import

onnx = lazy_import("onnx")  # ~1.2 s to import: only when a graph is touched


def hessians(
    proto: onnx.ModelProto, tensors: Sequence[str], feeds: Sequence[dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """H = X^T X / tokens (float64, [K, K]) of each named activation over the feeds.

    The graph is run once per feed with `tensors` added as outputs; every token (row of the
    activation flattened to [-1, K]) counts once.
    """
    import onnxruntime as ort

    graph = onnx.ModelProto()
    graph.CopyFrom(proto)
    known = {o.name for o in graph.graph.output}
    for name in tensors:
        if name not in known:
            graph.graph.output.append(onnx.helper.make_tensor_value_info(name, 1, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(graph.SerializeToString(), options, ["CPUExecutionProvider"])
    sums: dict[str, np.ndarray] = {}
    tokens = 0
    for feed in feeds:
        outs = session.run(list(tensors), feed)
        for name, x in zip(tensors, outs, strict=True):
            x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
            sums[name] = sums.get(name, 0.0) + x.T @ x
        tokens += int(np.prod(outs[0].shape[:-1]))
    return {name: h / max(tokens, 1) for name, h in sums.items()}


def gptq_quantize(
    weight: np.ndarray,
    hessian: np.ndarray,
    *,
    bits: int = 4,
    block_size: int = 32,
    symmetric: bool = True,
    percdamp: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GPTQ integers of one MatMul weight.

    Args:
        weight: [K, N] (ONNX MatMul layout: input channels first).
        hessian: [K, K], X^T X of the MatMul's input.
        bits, block_size, symmetric: the MatMulNBits grid (block_size input channels per scale).
        percdamp: dampening added to H's diagonal, as a fraction of its mean (H must invert).

    Returns:
        (q [N, K padded to blocks] uint8, scales [N, blocks] float32, zero points [N, blocks]
        uint8; 2^(bits-1) everywhere when symmetric).
    """
    k, n = weight.shape
    blocks = -(-k // block_size)
    padded = blocks * block_size
    w = np.zeros((n, padded))
    w[:, :k] = weight.T
    h = np.eye(padded)
    h[:k, :k] = hessian
    dead = np.diag(h) == 0  # channels never active: nothing to preserve, rounding to 0 is free
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h[np.diag_indices(padded)] += percdamp * np.mean(np.diag(h))
    # Upper Cholesky factor of H^-1: row i holds how channel i's error spreads to later ones.
    hinv = np.linalg.cholesky(np.linalg.inv(h)).T
    maxq = 2**bits - 1
    q = np.zeros((n, padded), np.uint8)
    scales = np.zeros((n, blocks), np.float32)
    zeros = np.zeros((n, blocks), np.uint8)
    for b in range(blocks):
        i0, i1 = b * block_size, (b + 1) * block_size
        scale, zero = _grid(w[:, i0:i1], bits, symmetric)
        scales[:, b], zeros[:, b] = scale, zero
        block = w[:, i0:i1].copy()
        errors = np.zeros_like(block)
        for i in range(block_size):
            col = block[:, i]
            ints = np.clip(np.round(col / scale + zero), 0, maxq)
            q[:, i0 + i] = ints
            errors[:, i] = (col - (ints - zero) * scale) / hinv[i0 + i, i0 + i]
            block[:, i:] -= np.outer(errors[:, i], hinv[i0 + i, i0 + i : i1])
        w[:, i1:] -= errors @ hinv[i0:i1, i1:]
    q[:, k:] = 0  # the padding, as ORT writes it (the kernel never reads it)
    return q, scales, zeros


def _grid(block: np.ndarray, bits: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per output row: (scale float32 [N] as float64, zero point [N]) of ORT's RTN."""
    maxq = 2**bits - 1
    if symmetric:
        rows = np.arange(block.shape[0])
        extreme = block[rows, np.argmax(np.abs(block), axis=1)]
        scale = (extreme / -(2 ** (bits - 1))).astype(np.float32).astype(np.float64)
        scale[scale == 0] = 1.0
        return scale, np.full(block.shape[0], 2 ** (bits - 1), np.float64)
    low = np.minimum(block.min(axis=1), 0.0).astype(np.float32)
    high = np.maximum(block.max(axis=1), 0.0).astype(np.float32)
    scale = (high - low) / np.float32(maxq)
    scale[scale == 0] = 1.0
    zero = np.clip(np.round(-low / scale), 0, maxq)
    return scale.astype(np.float64), zero.astype(np.float64)


def matmul_nbits_node(
    node: onnx.NodeProto,
    q: np.ndarray,
    scales: np.ndarray,
    zeros: np.ndarray | None,
    *,
    k: int,
    bits: int,
    block_size: int,
) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    """`node` (a MatMul) as MatMulNBits over integers `q` [N, K padded] (see `gptq_quantize`).

    Layout (ORT's contrib-op spec): B uint8 [N, blocks, block_size * bits / 8], low nibble first
    at 4 bits; scales [N * blocks]; zero points [N * ceil(blocks * bits / 8)], per row.
    """
    n, blocks = scales.shape
    if bits == 4:
        q = q[:, 0::2] | (q[:, 1::2] << 4)
    weight, to_tensor = node.input[1], onnx.numpy_helper.from_array
    inits = [
        to_tensor(q.reshape(n, blocks, -1).astype(np.uint8), f"{weight}_Q{bits}"),
        to_tensor(scales.reshape(-1).astype(np.float32), f"{weight}_scales"),
    ]
    if zeros is not None:
        if bits == 4:
            padded = np.full((n, blocks + blocks % 2), 2 ** (bits - 1), np.uint8)
            padded[:, :blocks] = zeros
            zeros = padded[:, 0::2] | (padded[:, 1::2] << 4)
        inits.append(to_tensor(zeros.reshape(-1).astype(np.uint8), f"{weight}_zp"))
    new = onnx.helper.make_node(
        "MatMulNBits", [node.input[0], *(t.name for t in inits)], list(node.output),
        name=f"{node.name}_Q{bits}", domain="com.microsoft",
        K=k, N=n, bits=bits, block_size=block_size,
    )  # fmt: skip
    return new, inits


def quantize_graph(
    proto: onnx.ModelProto,
    feeds: Sequence[dict[str, np.ndarray]],
    *,
    bits: int,
    block_size: int,
    symmetric: bool,
    percdamp: float = 0.01,
    exclude: Sequence[str] = (),
) -> onnx.ModelProto:
    """A copy of `proto` with every MatMul over a constant 2-D float weight in MatMulNBits,
    its integers chosen by GPTQ on the Hessians of the MatMuls' inputs over `feeds`."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    targets = [
        n for n in graph.node
        if n.op_type == "MatMul" and n.name not in exclude and n.input[1] in inits
        and len(inits[n.input[1]].dims) == 2 and inits[n.input[1]].data_type == 1
    ]  # fmt: skip
    hs = hessians(model, sorted({n.input[0] for n in targets}), feeds)
    replaced: dict[int, onnx.NodeProto] = {}
    for node in targets:
        weight = onnx.numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        q, scales, zeros = gptq_quantize(
            weight, hs[node.input[0]], bits=bits, block_size=block_size,
            symmetric=symmetric, percdamp=percdamp,
        )  # fmt: skip
        new, tensors = matmul_nbits_node(
            node, q, scales, None if symmetric else zeros,
            k=weight.shape[0], bits=bits, block_size=block_size,
        )  # fmt: skip
        graph.initializer.extend(tensors)
        replaced[id(node)] = new
    nodes = [replaced.get(id(n), n) for n in graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    return model
