"""PyTorch -> ONNX: export, full checker, onnxslim simplification, parity against torch.

`wl.export.onnx(model, data, "out/model.onnx")` is this module called like a function (see
`make_callable` at the bottom), so `weightlight.export.onnx.check_onnx` stays importable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import nn

from weightlight import batch as batches
from weightlight._callable_module import make_callable
from weightlight._io import atomic_path
from weightlight._lazy import lazy_import
from weightlight.adapter import OUTPUT_NAME, AdaptedModel
from weightlight.data import Data
from weightlight.errors import UserError, one_line
from weightlight.export._quiet import quiet
from weightlight.export.ort import OPTIMIZE_LEVELS, OrtModel, check_onnx

onnx = lazy_import("onnx")  # ~1.2 s to import: only when a graph is touched

Exporter = Literal["auto", "dynamo", "legacy"]
MIN_OPSET = 17
# The dynamo exporter (onnxscript) translates up to this opset; ORT 1.32 runs it.
MAX_OPSET = 23


def export_onnx(
    model: nn.Module,
    data: Data,
    path: str | Path,
    *,
    opset: int = 18,
    simplify: bool = True,
    optimize: str = "all",
    exporter: Exporter = "auto",
    tolerance: float | None = None,
    strict: bool = True,
) -> OrtModel:
    """Export `model` to ONNX, check it, simplify it and verify it against PyTorch.

    The batch axis is dynamic (token inputs also get a dynamic sequence axis). The
    torch.export-based exporter is tried first; where it fails the TorchScript one is used,
    and `OrtModel.exporter` records which one made the file.

    Args:
        model: a PyTorch model taking the data's batches (a tensor, tuple or dict); the output
            `data.adapter` declares (pooled where it says so) is the graph's one output.
        data: supplies the example input and the inputs for the parity check (`data.eval`).
            Every tensor of its batches becomes a graph input (an attention mask too, so
            padded batches run as in PyTorch), with dynamic batch and sequence axes.
        path: where the `.onnx` file is written (atomically).
        opset: ONNX opset, 17..23.
        simplify: run onnxslim (constant folding, dead-node removal) after export.
        optimize: ONNX Runtime graph optimization level: none, basic, extended or all.
            BERT-like Hugging Face models also get ORT's transformer fusions.
        exporter: "auto" (torch.export, falling back to TorchScript), "dynamo" or "legacy".
        tolerance: parity passes when max |onnx - torch| <= tolerance * max(1, max |torch|);
            None: 1e-4 for fp32 models, 1e-2 for fp16 / bf16 ones (3 significant digits).
        strict: raise a UserError when parity fails; when False the model is returned with
            `parity.ok == False` and a note, for inspection.

    Returns:
        The ONNX Runtime model, with `.parity` holding the check's report.

    Example:
        >>> import weightlight as wl
        >>> data = wl.data.digits()
        >>> m = wl.export.onnx(wl.models.mnist_cnn(), data, "/tmp/cnn.onnx")
        >>> m.parity.ok, m.exporter
        (True, 'dynamo')
    """
    from weightlight.export.parity import parity

    path = Path(path)
    _validate(model, data, path, opset, optimize, exporter)
    example = _export_example(model, data)
    if tolerance is None:
        tolerance = 1e-4 if _float_dtype(model) == torch.float32 else 1e-2
    notes: tuple[str, ...] = ()
    fuse = optimize != "none" and _is_bert_like(model)
    source = model
    if fuse:
        # Measured here: ORT's Attention / EmbedLayerNorm fusions match only the TorchScript
        # exporter's graph of eager attention, un-simplified (onnxslim and the dynamo exporter
        # both rewrite the subgraphs they look for, leaving attention unfused and ~2x slower).
        if exporter == "auto":
            exporter = "legacy"
            notes += ("TorchScript exporter chosen: ORT fuses Attention only in its graphs",)
        simplify = False
        source = _eager_attention(model)
        if isinstance(example, torch.Tensor) and not example.is_floating_point():
            source = _UnpaddedTokens(source)
    wrapped = data.adapter.module(source, example).eval()
    with atomic_path(path) as tmp:
        used = _export(wrapped, example, data, tmp, opset, exporter)
        proto = onnx.load(str(tmp))
        if simplify:
            proto = _simplify(proto)
        onnx.save(proto, str(tmp))
        check_onnx(tmp)
    result = OrtModel(path, optimize=optimize, exporter=used, notes=notes)
    if fuse:
        from weightlight.export.transformer import attention_dims, optimize_transformer

        result = optimize_transformer(result, optimize=optimize, **attention_dims(model))
    if optimize != "none":
        result = result.save_optimized()  # the graph as ORT runs it, kept for inspection
    report = parity(model, result, data, tolerance=tolerance)
    if not report.ok and strict:
        raise UserError(
            f"the ONNX export of '{path}' differs from PyTorch: max abs error "
            f"{report.max_abs:.3g} over tolerance {report.tolerance:.3g}, top-1 agreement "
            f"{report.top1_agreement}",
            "raise tolerance=, try exporter='legacy', or pass strict=False to inspect it",
        )
    notes = () if report.ok else (f"parity FAILED: max abs error {report.max_abs:.3g}",)
    return result.with_info(parity=report, notes=result.notes + notes)


def _validate(model, data: Data, path: Path, opset: int, optimize: str, exporter: str) -> None:
    """Check every argument before anything is written."""
    if not isinstance(model, nn.Module):
        raise UserError(f"cannot export a {type(model).__name__} to ONNX", "pass a torch nn.Module")
    if path.suffix != ".onnx":
        raise UserError(f"ONNX output path '{path}' must end in .onnx", "e.g. out/model.onnx")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UserError(
            f"opset {opset} is not supported", f"use an opset from {MIN_OPSET} to {MAX_OPSET}"
        )
    if optimize not in OPTIMIZE_LEVELS:
        raise UserError(
            f"unknown optimization level '{optimize}'", f"use one of {', '.join(OPTIMIZE_LEVELS)}"
        )
    if exporter not in ("auto", "dynamo", "legacy"):
        raise UserError(f"unknown exporter '{exporter}'", "use auto, dynamo or legacy")
    data.adapter.check(model, data.example_input)
    example = _export_example(model, data)
    try:
        with torch.inference_mode():
            data.adapter.module(model, example).eval()(*[t for _, t in batches.tensors(example)])
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"the model cannot run on the data's input {batches.describe(data.example_input)} "
            f"({one_line(str(exc))[:160]})",
            "export with data whose inputs match the model",
        ) from None


def _float_dtype(model: nn.Module) -> torch.dtype:
    floats = [p.dtype for p in model.parameters() if p.is_floating_point()]
    return floats[0] if floats else torch.float32


def _export_example(model: nn.Module, data: Data) -> batches.Inputs:
    """Two samples in the model's dtype (torch.export specialises a size-1 batch axis).

    When the batch has an attention mask, the second sample's last token is masked out, so
    the traced graph takes the masked path: a graph traced on an all-ones mask can drop the
    mask (the padded sentences' embeddings then change).
    """
    example = batches.cast_floats(data.example_batch(2), _float_dtype(model))
    if isinstance(example, dict) and "attention_mask" in example:
        mask = example["attention_mask"].clone()
        if mask.shape[-1] > 1:
            mask[1, -1] = 0
        example = {**example, "attention_mask": mask}
    return example


class _UnpaddedTokens(nn.Module):
    """Token ids alone (no mask in the batch, so nothing is padded) get an all-ones mask: the
    same result as no mask, and the mask subgraph ORT's Attention fusion looks for."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.config = model, model.config

    def forward(self, input_ids: torch.Tensor):
        return self.model(input_ids, attention_mask=torch.ones_like(input_ids))


def _eager_attention(model: nn.Module) -> nn.Module:
    """A copy running eager attention (ORT's fusions match its graph, not SDPA's)."""
    if getattr(model.config, "_attn_implementation", "eager") == "eager":
        return model
    import copy

    twin = copy.deepcopy(model)
    try:
        twin.set_attn_implementation("eager")
    except (AttributeError, ValueError):
        return model
    return twin


def _is_bert_like(model: nn.Module) -> bool:
    """A Hugging Face model whose graph ORT's BERT optimizer knows how to fuse."""
    from weightlight.export.transformer import FUSIBLE_MODEL_TYPES

    return getattr(getattr(model, "config", None), "model_type", None) in FUSIBLE_MODEL_TYPES


def _export(model: AdaptedModel, example, data: Data, path: Path, opset: int, exporter: str) -> str:
    """Write the ONNX file with the chosen exporter; returns "dynamo" or "legacy"."""
    args = tuple(t for _, t in batches.tensors(example))
    names = model.input_names
    with torch.inference_mode():
        output = model(*args)
    axes = data.adapter.onnx_axes(example, output)
    errors = []
    if exporter in ("auto", "dynamo"):
        try:
            _export_dynamo(model, args, names, axes, path, opset)
            return "dynamo"
        except Exception as exc:  # the exporter raises many types; the fallback handles all
            errors.append(f"torch.export-based exporter: {one_line(str(exc))[:200]}")
            if exporter == "dynamo":
                raise UserError(
                    f"ONNX export failed ({errors[0]})", "try exporter='legacy'"
                ) from None
    try:
        _export_legacy(model, args, names, axes, path, opset)
        return "legacy"
    except Exception as exc:
        errors.append(f"TorchScript exporter: {one_line(str(exc))[:200]}")
        raise UserError(
            f"ONNX export failed ({'; '.join(errors)})",
            "make the model traceable (no data-dependent Python control flow) or report it",
        ) from None


def _export_dynamo(model, args, names, axes, path: Path, opset: int) -> None:
    dims = {label: torch.export.Dim(label) for a in axes.values() for label in a.values()}
    # AdaptedModel.forward takes `*tensors`: torch.export matches dynamic_shapes against the
    # signature, so the per-tensor shapes sit in one tuple for that one varargs parameter.
    shapes = (tuple({axis: dims[label] for axis, label in axes[n].items()} for n in names),)
    with quiet():
        program = torch.onnx.export(
            model,
            args,
            dynamo=True,
            input_names=names,
            output_names=[OUTPUT_NAME],
            dynamic_shapes=shapes,
            opset_version=opset,
            verbose=False,
            external_data=False,
        )
        program.save(str(path))


def _export_legacy(model, args, names, axes, path: Path, opset: int) -> None:
    with quiet():
        torch.onnx.export(
            model,
            args,
            str(path),
            dynamo=False,
            input_names=names,
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=opset,
        )


def _simplify(proto: onnx.ModelProto) -> onnx.ModelProto:
    """onnxslim: fold constants, drop dead nodes, fuse trivial patterns. Keeps the model on
    failure (simplification is an improvement, never a requirement)."""
    import onnxslim

    try:
        with quiet():
            slim = onnxslim.slim(proto)
    except Exception:
        return proto
    return slim if isinstance(slim, onnx.ModelProto) else proto


make_callable(__name__, export_onnx)
