"""`weightlight quantize MODEL --method ... --out q.pt`: quantize, save, measure vs fp32."""

from __future__ import annotations

from pathlib import Path

import typer

import weightlight as wl
from weightlight._io import check_writable
from weightlight.cli._app import DATA_HELP, MODEL_FACTORY_HELP, TRUST_HELP, app, console
from weightlight.hardware import stage_precision
from weightlight.quantize import quantize as quantize_model
from weightlight.quantize import save_quantized
from weightlight.quantize.dispatch import parse_config
from weightlight.report.table import measurement_table


@app.command()
def quantize(
    model: str = typer.Argument(..., help="Model file (.safetensors/.pt/.pt2) or built-in name."),
    method: str = typer.Option(
        "static_int8", help="static_int8, dynamic_int8, half, qat or weight_only."
    ),
    out: Path = typer.Option(Path("model_int8.pt"), help="Where to save the quantized model."),
    data: str = typer.Option("digits", help=DATA_HELP),
    arch: str | None = typer.Option(None, "--model", help=MODEL_FACTORY_HELP),
    calibration: str | None = typer.Option(None, help="static_int8: minmax|percentile|entropy|mse"),
    exclude: str | None = typer.Option(None, help="Comma-separated layer names kept in float."),
    batches: int | None = typer.Option(None, help="static_int8: calibration batches."),
    dtype: str | None = typer.Option(None, help="half: bf16 or fp16."),
    bits: int | None = typer.Option(None, help="weight_only: 8 or 4."),
    group_size: int | None = typer.Option(None, help="weight_only: weights per scale."),
    epochs: float | None = typer.Option(None, help="qat: fine-tuning epochs."),
    threads: int | None = typer.Option(None, help="Intra-op threads while timing."),
    trust: bool = typer.Option(False, "--trust", help=TRUST_HELP),
) -> None:
    """Quantize a model, save it (state_dict + config, .pt) and compare it with fp32."""
    options = {
        "method": method,
        "calibration": calibration,
        "batches": batches,
        "dtype": dtype,
        "bits": bits,
        "group_size": group_size,
        "exclude": tuple(n.strip() for n in exclude.split(",") if n.strip()) if exclude else None,
        "finetune": {"epochs": epochs} if epochs is not None else None,
    }
    # Validate before loading anything: a typo in --method fails in a second, with choices.
    config = parse_config({k: v for k, v in options.items() if v is not None})
    check_writable(out)
    dataset = wl.data.load_data(data, model=model)  # a text file: hf:FOLDER's tokenizer
    net = wl.models.load_model(model, factory=arch, trust=trust)
    quantized = quantize_model(net, config, dataset)
    save_quantized(quantized, out, config)
    int8_path, notes = stage_precision(config.model_dump(mode="json"))
    measured = wl.measure(quantized, dataset, name=config.method, threads=threads, runs=20)
    rows = [
        wl.measure(net, dataset, name="fp32", threads=threads, runs=20),
        measured.with_updates(int8_path=int8_path, notes=(*measured.notes, *notes)),
    ]
    console.print(measurement_table(rows, baseline=rows[0], title=f"{model} -> {out}"))
