"""PyTorch -> ONNX: export, full checker, onnxslim simplification, parity against torch.

`wl.export.onnx(model, data, "out/model.onnx")` is this module called like a function (see
`make_callable` at the bottom), so `weightlight.export.onnx.check_onnx` stays importable.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Literal

import onnx
import torch
from torch import nn

from weightlight._callable_module import make_callable
from weightlight._io import atomic_path
from weightlight.data import Data
from weightlight.errors import UserError, one_line
from weightlight.export._quiet import quiet
from weightlight.export.ort import OPTIMIZE_LEVELS, OrtModel, check_onnx
from weightlight.outputs import output_tensor

Exporter = Literal["auto", "dynamo", "legacy"]
MIN_OPSET = 17
# The dynamo exporter (onnxscript) translates up to this opset; ORT 1.32 runs it.
MAX_OPSET = 23
INPUT_NAME, OUTPUT_NAME = "input", "output"


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
        model: a PyTorch model taking one tensor (its first output, or `.logits`, is exported).
        data: supplies the example input and the inputs for the parity check (`data.eval`).
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
    wrapped = _SingleOutput(model).eval()
    # Batch 2: torch.export specialises a size-1 batch axis to the constant 1.
    example = _as_model_dtype(model, data.example_batch(2))
    if tolerance is None:
        tolerance = 1e-4 if _float_dtype(model) == torch.float32 else 1e-2
    notes: tuple[str, ...] = ()
    fuse = optimize != "none" and _is_bert_like(model)
    if fuse:
        # Measured here: ORT's Attention / EmbedLayerNorm fusions match only the TorchScript
        # exporter's graph, un-simplified (onnxslim and the dynamo exporter both rewrite the
        # subgraphs they look for, leaving attention unfused and ~2x slower).
        if exporter == "auto":
            exporter = "legacy"
            notes += ("TorchScript exporter chosen: ORT fuses Attention only in its graphs",)
        simplify = False
    with atomic_path(path) as tmp:
        used = _export(wrapped, example, tmp, opset, exporter)
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
    try:
        with torch.inference_mode():
            _SingleOutput(model).eval()(_as_model_dtype(model, data.example_batch(2)))
    except Exception as exc:
        raise UserError(
            f"the model cannot run on the data's input shape "
            f"{tuple(data.example_input.shape)} ({one_line(str(exc))[:160]})",
            "export with data whose input shape matches the model",
        ) from None


def _float_dtype(model: nn.Module) -> torch.dtype:
    floats = [p.dtype for p in model.parameters() if p.is_floating_point()]
    return floats[0] if floats else torch.float32


def _as_model_dtype(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A model cast to fp16 / bf16 takes inputs of that dtype (as `wl.measure` feeds it)."""
    return x.to(_float_dtype(model)) if x.is_floating_point() else x


class _SingleOutput(nn.Module):
    """The model as ONNX sees it: one input tensor, one output tensor.

    Matches what `weightlight.measure` reads from a torch model (first element of a tuple, or
    `.logits`), so the parity check compares like with like. Token inputs of a Hugging Face
    model get an all-ones attention mask (unpadded): the same result as passing no mask, but
    it gives ORT's transformer optimizer the mask subgraph its Attention fusion matches.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        params = inspect.signature(model.forward).parameters
        self.pass_mask = _is_bert_like(model) and "attention_mask" in params

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pass_mask and not x.is_floating_point():
            out = self.model(x, attention_mask=torch.ones_like(x))
        else:
            out = self.model(x)
        return output_tensor(out)


def _is_bert_like(model: nn.Module) -> bool:
    """A Hugging Face model whose graph ORT's BERT optimizer knows how to fuse."""
    from weightlight.export.transformer import FUSIBLE_MODEL_TYPES

    return getattr(getattr(model, "config", None), "model_type", None) in FUSIBLE_MODEL_TYPES


def _export(model: nn.Module, example: torch.Tensor, path: Path, opset: int, exporter: str) -> str:
    """Write the ONNX file with the chosen exporter; returns "dynamo" or "legacy"."""
    token_input = not example.is_floating_point() and example.dim() == 2
    errors = []
    if exporter in ("auto", "dynamo"):
        try:
            _export_dynamo(model, example, path, opset, token_input)
            return "dynamo"
        except Exception as exc:  # the exporter raises many types; the fallback handles all
            errors.append(f"torch.export-based exporter: {one_line(str(exc))[:200]}")
            if exporter == "dynamo":
                raise UserError(
                    f"ONNX export failed ({errors[0]})", "try exporter='legacy'"
                ) from None
    try:
        _export_legacy(model, example, path, opset, token_input)
        return "legacy"
    except Exception as exc:
        errors.append(f"TorchScript exporter: {one_line(str(exc))[:200]}")
        raise UserError(
            f"ONNX export failed ({'; '.join(errors)})",
            "make the model traceable (no data-dependent Python control flow) or report it",
        ) from None


def _export_dynamo(model, example, path: Path, opset: int, token_input: bool) -> None:
    dims = {0: torch.export.Dim("batch")}
    if token_input:
        dims[1] = torch.export.Dim("sequence")
    with quiet():
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=(dims,),
            opset_version=opset,
            verbose=False,
            external_data=False,
        )
        program.save(str(path))


def _export_legacy(model, example, path: Path, opset: int, token_input: bool) -> None:
    axes = {0: "batch", 1: "sequence"} if token_input else {0: "batch"}
    with quiet():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: {0: "batch"}},
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
