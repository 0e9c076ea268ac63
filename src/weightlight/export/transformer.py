"""ONNX Runtime's transformer fusions for BERT-like models (Attention, SkipLayerNorm, ...).

ORT's graph optimizer alone does not fuse multi-head attention; the Python fusions in
`onnxruntime.transformers.optimizer` pattern-match the exported subgraphs into ORT's
contrib ops. They match graphs exported from eager attention (not SDPA), which is why
weightlight exports Hugging Face models with an explicit all-ones attention mask.
"""

from __future__ import annotations

from pathlib import Path

from weightlight.errors import UserError, one_line
from weightlight.export._quiet import quiet
from weightlight.export.ort import OrtModel

# Hugging Face `config.model_type`s whose encoder ORT fuses with its "bert" optimizer.
FUSIBLE_MODEL_TYPES = ("bert", "roberta", "distilbert")


def attention_dims(model) -> dict[str, int]:
    """{num_heads, hidden_size} of the model's attention as it runs now, for the fusions.

    `hidden_size` is the attention's width (heads x head size), which pruning heads
    (`weightlight.prune.transformer`) makes narrower than the residual stream. Both are read
    from the weight shapes of the first block, through the family table every pruning and
    loading path uses (`weightlight.models.hf_arch`), not from attribute names: DistilBERT's
    attention has no `num_attention_heads` / `all_head_size`, and its config's `hidden_size`
    stays the residual width, so a head-pruned DistilBERT was fused with a width that is no
    multiple of its heads and the fusion failed. ORT fuses with one head count, which is why
    that pruning keeps the same count in every block.
    """
    from weightlight.models.hf_arch import blocks, find_family, head_counts, head_size

    found = find_family(model)
    if found is not None:
        hf, family = found
        block = blocks(hf, family)[1][0]
        heads = head_counts(block, family)[0]
        return {"num_heads": heads, "hidden_size": heads * head_size(block, family)}
    config = getattr(model, "config", None)
    return {"num_heads": getattr(config, "num_attention_heads", 0),
            "hidden_size": getattr(config, "hidden_size", 0)}  # fmt: skip


def optimize_transformer(
    onnx_model: OrtModel,
    config=None,
    *,
    num_heads: int = 0,
    hidden_size: int = 0,
    path: str | Path | None = None,
    optimize: str | None = None,
) -> OrtModel:
    """Fuse a BERT-like ONNX graph; returns the fused model with `.fusions` counts.

    Args:
        onnx_model: the exported model.
        config: a Hugging Face config (heads and hidden size are read from it), or None.
        num_heads, hidden_size: used when `config` is None (0 lets ORT detect them).
        path: the fused file (default: `<name>.fused.onnx` next to the source file).
        optimize: ORT session optimization level of the result (default: the source's).

    Example:
        >>> fused = optimize_transformer(wl.export.onnx(bert, data, "bert.onnx",
        ...                              optimize="none"), bert.config)
        >>> fused.fusions["Attention"]
        2
    """
    from onnxruntime.transformers import optimizer

    if config is not None:
        num_heads = getattr(config, "num_attention_heads", num_heads)
        hidden_size = getattr(config, "hidden_size", hidden_size)
    target = Path(path) if path else onnx_model.path.with_suffix(".fused.onnx")
    try:
        with quiet():
            # opt_level=0: Python fusions only, so the file stays portable across CPUs;
            # the session applies ORT's own graph optimizations when it loads it.
            fused = optimizer.optimize_model(
                str(onnx_model.path),
                model_type="bert",
                num_heads=num_heads,
                hidden_size=hidden_size,
                opt_level=0,
            )
            stats = fused.get_fused_operator_statistics()
            fused.save_model_to_file(str(target))
    except Exception as exc:
        raise UserError(
            f"ORT's transformer optimizer failed on '{onnx_model.path}' "
            f"({one_line(str(exc))[:200]})",
            "export with optimize='none' or 'all' without fusions (a non-BERT-like model)",
        ) from None
    counts = {op: int(n) for op, n in stats.items() if n}
    return onnx_model.with_info(
        path=target, optimize=optimize or onnx_model.optimize, fusions=counts
    )


def ffn_output_nodes(path: str | Path) -> tuple[str, ...]:
    """Names of the MatMuls fed by a GELU: a BERT block's FFN output projections.

    Their inputs carry the heavy-tailed activations that one int8 scale per tensor handles
    worst; these are the nodes to keep in fp32 (`OrtDynamicInt8(exclude_nodes=...)`) or to
    smooth first (`weightlight.quantize.smooth`). Works on fused and unfused graphs (Gelu,
    BiasGelu, FastGelu, an Erf chain, or a smoothing Mul behind one of them).

    Example:
        >>> ffn_output_nodes(fused.path)[:1]
        ('/model/encoder/layer.0/output/dense/MatMul',)
    """
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {out: node for node in graph.node for out in node.output}

    def after_gelu(name: str, hops: int = 4) -> bool:
        # A fused Gelu op, or the x * 0.5 * (1 + erf(x / sqrt 2)) chain an exporter writes.
        node = producer.get(name)
        if node is None or hops == 0:
            return False
        if "Gelu" in node.op_type or node.op_type == "Erf":
            return True
        elementwise = node.op_type in ("Mul", "Add", "Div")
        return elementwise and any(after_gelu(i, hops - 1) for i in node.input)

    return tuple(n.name for n in graph.node if n.op_type == "MatMul" and after_gelu(n.input[0]))
