"""`weightlight export MODEL --onnx out.onnx [--optimize all] [--quantize static_int8]`."""

from __future__ import annotations

from pathlib import Path

import pydantic
import typer
from rich.table import Table
from torch import nn

import weightlight as wl
from weightlight._io import check_writable
from weightlight.cli._app import DATA_HELP, MODEL_FACTORY_HELP, TRUST_HELP, app, console
from weightlight.config import raw_validation_errors
from weightlight.errors import UserError


@app.command()
def export(
    model: str = typer.Argument(..., help="Model file (.safetensors/.pt/.pt2) or built-in name."),
    onnx: Path = typer.Option(..., "--onnx", help="Where to write the ONNX file."),
    optimize: str = typer.Option("all", help="ORT graph optimization: none/basic/extended/all."),
    quantize: str | None = typer.Option(
        None, help="Also write an int8 model: static_int8 (CNNs) or dynamic_int8 (transformers)."
    ),
    calibration: str = typer.Option("minmax", help="Static int8: minmax, percentile or entropy."),
    opset: int = typer.Option(18, help="ONNX opset (17..23)."),
    kv_cache: bool = typer.Option(
        False, "--kv-cache", help="Causal LM: key/value cache as graph inputs/outputs."
    ),
    weight_only: int | None = typer.Option(
        None, "--weight-only", help="Also write ORT MatMulNBits weights of 4 or 8 bits."
    ),
    algorithm: str = typer.Option("rtn", help="--weight-only: rtn, gptq (calibrated) or hqq."),
    block_size: int = typer.Option(32, help="--weight-only: input channels per scale."),
    data: str = typer.Option("digits", help=DATA_HELP),
    arch: str | None = typer.Option(None, "--model", help=MODEL_FACTORY_HELP),
    trust: bool = typer.Option(False, "--trust", help=TRUST_HELP),
) -> None:
    """Export to ONNX, check parity with PyTorch, optimize for ONNX Runtime, optionally int8."""
    try:
        with raw_validation_errors():  # the field, to name it as the CLI option it came from
            nbits = None
            if weight_only is not None:
                nbits = wl.export.NBits(bits=weight_only, algorithm=algorithm,
                                        block_size=block_size)  # fmt: skip
            config = wl.export.Export(
                opset=opset, optimize=optimize, quantize=quantize, calibration=calibration,
                kv_cache=kv_cache, weight_only=nbits,
            )  # fmt: skip
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise UserError(
            f"invalid --{field.replace('_', '-')} {first.get('input')!r}: {first['msg']}",
            "see weightlight export --help",
        ) from None
    check_writable(onnx)
    if quantize is not None:
        check_writable(onnx.with_suffix(".int8.onnx"))
    dataset = wl.data.load_data(data)
    net = wl.models.load_model(model, factory=arch, trust=trust)
    if not isinstance(net, nn.Module):
        raise UserError(f"'{model}' is already an ONNX model", "pass a PyTorch model file")
    if kv_cache or weight_only is not None:
        fp32 = wl.export(net, config.model_copy(update={"weight_only": None}), dataset, onnx)
        console.print(summary_table(fp32, "fp32 ONNX" + (" decoder" if kv_cache else "")))
        if config.weight_only is not None:
            from weightlight.export.ort_nbits import quantize_nbits_config

            target = onnx.with_suffix(f".int{weight_only}.onnx")
            check_writable(target)
            q = quantize_nbits_config(fp32, dataset, target, config.weight_only)
            console.print(summary_table(q, f"MatMulNBits int{weight_only} ONNX"))
        return
    fp32 = wl.export.onnx(net, dataset, onnx, opset=opset, optimize=optimize)
    console.print(summary_table(fp32, "fp32 ONNX"))
    quant = config.quant_config()
    if quant is not None:
        int8 = wl.export.quantize_onnx(fp32, dataset, onnx.with_suffix(".int8.onnx"), quant)
        console.print(summary_table(int8, f"{quantize} ONNX"))


def summary_table(result: wl.export.OrtModel, title: str) -> Table:
    """What was written and how faithful it is."""
    table = Table(title=title)
    table.add_column("item")
    table.add_column("value")
    table.add_row("file", str(result.path))
    if result.optimized_path:
        table.add_row("ORT-optimized graph", str(result.optimized_path))
    if result.exporter:
        table.add_row("exporter", result.exporter)
    if result.fusions:
        table.add_row("fused ops", ", ".join(f"{k} x{v}" for k, v in result.fusions.items()))
    report = result.parity
    if report is not None:
        kind = "parity vs torch" if result.exporter else "fidelity vs fp32 ONNX"
        agree = "n/a" if report.top1_agreement is None else f"{report.top1_agreement:.2f} %"
        table.add_row(
            kind,
            f"max abs {report.max_abs:.2e}, top-1 agreement {agree}, "
            f"mean cosine {report.mean_cosine:.5f} ({report.samples} samples)",
        )
    for note in result.notes:
        table.add_row("note", note)
    return table
