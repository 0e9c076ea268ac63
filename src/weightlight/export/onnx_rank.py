"""Which ONNX nodes ORT int8 hurts most, ranked in minutes on a real encoder.

Quantizing every weighted node alone with ONNX Runtime costs one quantization of the whole
file, one session and one evaluation per node: about 15 s a node on all-MiniLM-L6-v2 (25
nodes, 90 MB) on a quiet machine, over half an hour on a loaded 2-core one. Two passes instead:

1. **proxy**, one ORT run over every node: each candidate's inputs are read from the fp32
   graph on a few batches and its product is recomputed in numpy with int8 fake-quantized
   operands, as ORT quantizes them (activations: one uint8 range per tensor, per batch for
   dynamic int8, over the batches for static; weights: int8 per output channel or per
   tensor). The relative error of the node's own output orders all of them.
2. **exact**, the proxy's `measure_top` worst nodes only: each is quantized alone by ORT
   (the file pre-processed once) and scored by the model's output cosine vs fp32 on
   `batches` validation batches, as the stage would quantize it.

The ranking is the measured nodes by cosine (most fragile first), then the rest in proxy
order. A node's own error misses how the graph amplifies or absorbs it (a LayerNorm after
it, a residual beside it), which is why the final order among the candidates is measured.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weightlight._lazy import lazy_import
from weightlight.config import Config
from weightlight.data import Data
from weightlight.errors import UserError

onnx = lazy_import("onnx")  # ~1.2 s to import: only when a graph is touched

# ONNX ops that hold weights ORT quantizes (the ones worth keeping in fp32 when fragile).
ONNX_WEIGHTED = ("Attention", "Conv", "EmbedLayerNormalization", "Gather", "Gemm", "LSTM", "MatMul")
Progress = Callable[[int, int, str], None]  # (done, total, what is being done)


@dataclass(frozen=True)
class NodeRanking:
    """The result: `names` most fragile first; `measured` (node, output cosine) for the nodes
    quantized alone by ORT; `proxy` (node, relative error of its own output) for all."""

    names: list[str]
    measured: list[tuple[str, float]]
    proxy: list[tuple[str, float]]


def rank_onnx_nodes(
    fp32,
    data: Data,
    config: Config,
    *,
    measure_top: int = 8,
    batches: int = 2,
    on_progress: Progress | None = None,
) -> NodeRanking:
    """Rank the weighted nodes of an fp32 ONNX model by how much int8 on each alone costs.

    Args:
        fp32: the fp32 `OrtModel` (for BERT-like models the fused graph, whose node names
            `exclude_nodes` takes).
        data: `batches` batches of `data.selection` feed both passes (static int8
            calibrates on as many batches of `data.calib`).
        config: the ORT int8 config (`OrtDynamicInt8` or `OrtStaticInt8`) the stage uses.
        measure_top: how many of the proxy's worst nodes are quantized alone by ORT.
        batches: validation batches read by each pass.
        on_progress: called as on_progress(done, total, step) before each step.

    Example:
        >>> r = rank_onnx_nodes(fp32, data, wl.export.OrtDynamicInt8())  # doctest: +SKIP
        >>> r.names[0]  # all-MiniLM-L6-v2, dynamic int8  # doctest: +SKIP
        '/model/encoder/layer.0/output/dense/MatMul'
    """
    from onnxruntime.quantization.registry import IntegerOpsRegistry, QLinearOpsRegistry

    if measure_top < 0 or batches < 1:
        raise UserError(
            f"measure_top must be >= 0 and batches >= 1, got {measure_top} and {batches}",
            "e.g. measure_top=8, batches=2",
        )
    dynamic = getattr(config, "method", "") == "ort_dynamic_int8"
    ops = IntegerOpsRegistry if dynamic else QLinearOpsRegistry
    model = onnx.load(str(fp32.path))
    tables = {t.name for t in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.name and n.op_type in ops
             and n.op_type in ONNX_WEIGHTED and _quantized_by_ort(n, tables)]  # fmt: skip
    total = 1 + min(measure_top, len(nodes))
    report = on_progress or (lambda done, total, step: None)
    report(0, total, f"proxy error of {len(nodes)} nodes")
    feeds = _feeds(fp32, data, batches)
    proxy = proxy_errors(model, nodes, feeds, config, dynamic=dynamic)
    measured = []
    with tempfile.TemporaryDirectory(prefix="wl-onnx-rank-") as tmp:
        names = [n.name for n in nodes]
        # pre-processed once; kept only if every candidate's name survives it
        prepared = _prepared(
            fp32, Path(tmp), config.model_copy(update={"exclude_nodes": tuple(names)})
        )
        reference = _outputs(fp32, feeds)
        for i, (name, _) in enumerate(proxy[:measure_top]):
            report(1 + i, total, name)
            alone = config.model_copy(
                update={"exclude_nodes": tuple(n for n in names if n != name), "preprocess": False}
            )
            measured.append((name, _alone_cosine(prepared, fp32, data, alone, feeds, reference)))
    report(total, total, "done")
    measured.sort(key=lambda s: s[1])
    chosen = {n for n, _ in measured}
    order = [n for n, _ in measured] + [n for n, _ in proxy if n not in chosen]
    return NodeRanking(order, measured, proxy)


def proxy_errors(model, nodes, feeds, config, *, dynamic: bool) -> list[tuple[str, float]]:
    """(node, relative error of its int8 product), worst first, from one ORT run per batch."""
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    wanted = sorted({x for n in nodes for x in _operands(n) if x and x not in weights})
    captured = _capture(model, wanted, feeds)
    bits = 7 if _reduce_range(config) else 8
    per_channel = bool(getattr(config, "per_channel", True))
    fixed = None if dynamic else {k: (min(v.min() for v in vs), max(v.max() for v in vs))
                                  for k, vs in captured.items()}  # fmt: skip
    errors = []
    for node in nodes:
        num = den = 0.0
        for b in range(len(feeds)):
            exact, approx = _products(node, weights, captured, b, bits, per_channel, fixed)
            num += float(np.sum((approx - exact) ** 2))
            den += float(np.sum(exact**2))
        errors.append((node.name, round((num / den) ** 0.5 if den else 0.0, 6)))
    return sorted(errors, key=lambda s: -s[1])


def _quantized_by_ort(node, initializers: set[str]) -> bool:
    """A Gather is quantized only when it reads a weight table (not a shape or an index)."""
    return node.op_type != "Gather" or node.input[0] in initializers


def _operands(node) -> list[str]:
    """The inputs ORT quantizes: both MatMul / Gemm operands, the activation and the packed
    weight of Attention, the tables of Gather and EmbedLayerNormalization, a Conv/LSTM weight."""
    take = {"MatMul": (0, 1), "Gemm": (0, 1), "Attention": (0, 1), "Gather": (0,),
            "EmbedLayerNormalization": (2, 3, 4), "Conv": (1,), "LSTM": (1, 2)}  # fmt: skip
    return [node.input[i] for i in take[node.op_type] if i < len(node.input)]


def _products(node, weights, captured, b, bits, per_channel, fixed):
    """(fp32, fake-int8) versions of what the node computes from its quantized operands."""

    def value(name, quantize):
        if name in weights:
            w = weights[name].astype(np.float32)
            axis = _channel_axis(node, w) if per_channel else None
            return fake_quant_weight(w, bits, axis) if quantize else w
        x = captured[name][b]
        return fake_quant_activation(x, *(fixed or {}).get(name, (None, None))) if quantize else x

    ins = _operands(node)
    if node.op_type in ("MatMul", "Gemm", "Attention"):
        attrs = {a.name: a.i for a in node.attribute}
        a_name, b_name = ins[0], ins[1]

        def product(q):
            a, w = value(a_name, q).astype(np.float32), value(b_name, q).astype(np.float32)
            a = a.T if attrs.get("transA") else a
            w = w.T if attrs.get("transB") else w
            if w.ndim == 2:  # one BLAS GEMM over every token, not one per batch row
                return a.reshape(-1, a.shape[-1]) @ w
            return np.matmul(a, w)

        return product(False), product(True)
    # weight-only ops: the error of the tables or weights themselves
    exact = np.concatenate([value(n, False).ravel() for n in ins if n in weights])
    approx = np.concatenate([value(n, True).ravel() for n in ins if n in weights])
    return exact, approx


def _channel_axis(node, w: np.ndarray) -> int | None:
    """ORT's per-channel axis: output columns of a MatMul / Attention weight, rows of a
    transposed Gemm weight or a Conv kernel; tables (Gather, embeddings) are per tensor."""
    if w.ndim < 2 or node.op_type in ("Gather", "EmbedLayerNormalization"):
        return None
    if node.op_type == "Gemm":
        return 0 if any(a.name == "transB" and a.i for a in node.attribute) else 1
    return 0 if node.op_type in ("Conv", "LSTM") else w.ndim - 1


def fake_quant_weight(w: np.ndarray, bits: int = 8, axis: int | None = None) -> np.ndarray:
    """Symmetric signed int quantize-dequantize, one scale per tensor or per `axis` slice.

    Example:
        >>> fake_quant_weight(np.array([1.0, -0.5, 0.001]), 8).tolist()
        [1.0, -0.5039370078740157, 0.0]
    """
    levels = 2 ** (bits - 1) - 1
    if axis is None:
        peak = np.abs(w).max()
    else:
        peak = np.abs(w).max(axis=tuple(i for i in range(w.ndim) if i != axis), keepdims=True)
    scale = np.where(peak > 0, peak / levels, 1.0)
    return np.clip(np.round(w / scale), -levels, levels) * scale


def fake_quant_activation(x: np.ndarray, low=None, high=None) -> np.ndarray:
    """uint8 asymmetric quantize-dequantize over [min(low, 0), max(high, 0)] (the tensor's
    own range when none is given: ORT's DynamicQuantizeLinear).

    Example:
        >>> fake_quant_activation(np.array([0.0, 0.3, 2.55])).round(6).tolist()
        [0.0, 0.3, 2.55]
    """
    low = min(float(x.min() if low is None else low), 0.0)
    high = max(float(x.max() if high is None else high), 0.0)
    scale = (high - low) / 255 or 1.0
    zero = np.round(-low / scale)
    return (np.clip(np.round(x / scale) + zero, 0, 255) - zero) * scale


def _capture(model, names: list[str], feeds: list[dict]) -> dict[str, list[np.ndarray]]:
    """The values of the graph tensors `names` on each batch (added as graph outputs)."""
    import onnxruntime as ort

    if not names:
        return {}
    given = [n for n in names if n in feeds[0]]  # graph inputs are read from the feeds
    names = [n for n in names if n not in given]
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    known = {o.name for o in copy.graph.output}
    for name in names:
        if name not in known:
            copy.graph.output.append(
                onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
            )
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(copy.SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    values: dict[str, list[np.ndarray]] = {n: [] for n in names + given}
    for feed in feeds:
        for name, v in zip(names, session.run(names, feed) if names else [], strict=True):
            values[name].append(np.asarray(v, dtype=np.float32))
        for name in given:
            values[name].append(feed[name].astype(np.float32))
    return values


def _feeds(fp32, data: Data, batches: int) -> list[dict]:
    from weightlight.batch import split

    feeds = []
    for i, b in enumerate(data.selection):
        if i >= batches:
            break
        feeds.append(fp32.feeds(split(b)[0]))
    return feeds


def _outputs(model, feeds: list[dict]) -> list[np.ndarray]:
    return [np.asarray(model.session.run(None, f)[0], dtype=np.float64) for f in feeds]


def _prepared(fp32, tmp: Path, config) -> Path:
    """ORT's pre-processing of the fp32 file, done once for every node quantized alone."""
    from weightlight.export.ort_quant import preprocess

    source = Path(fp32.path).resolve()
    return preprocess(source, tmp, config)[0]


def _alone_cosine(prepared: Path, fp32, data: Data, config, feeds, reference) -> float:
    """Mean per-sample output cosine vs fp32 with only one node quantized."""
    from weightlight.export.ort import OrtModel
    from weightlight.export.ort_quant import quantize_file

    if "calib_batches" in type(config).model_fields:
        config = config.model_copy(update={"calib_batches": len(feeds)})
    with tempfile.TemporaryDirectory(prefix="wl-node-") as tmp:
        out = Path(tmp) / "alone.onnx"
        quantize_file(prepared, out, data, config, fp32.session.get_inputs()[0].name)
        outputs = _outputs(OrtModel(out, optimize=fp32.optimize, threads=fp32.threads), feeds)
    sims = []
    for r, o in zip(reference, outputs, strict=True):
        r, o = r.reshape(len(r), -1), o.reshape(len(o), -1)
        dot = np.sum(r * o, axis=1)
        norms = np.linalg.norm(r, axis=1) * np.linalg.norm(o, axis=1)
        sims.append(dot / np.maximum(norms, 1e-12))
    return round(float(np.concatenate(sims).mean()), 6)


def _reduce_range(config) -> bool:
    from weightlight.hardware import quant_settings

    chosen = getattr(config, "reduce_range", None)
    return quant_settings().reduce_range if chosen is None else chosen
