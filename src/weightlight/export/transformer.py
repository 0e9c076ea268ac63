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
