"""`weightlight train` and `weightlight measure`."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import typer

import weightlight as wl
from weightlight._io import check_writable
from weightlight.accelerator import resolve_device
from weightlight.cli._app import (
    DATA_HELP,
    DEVICE_HELP,
    MODEL_FACTORY_HELP,
    TRUST_HELP,
    app,
    console,
    parse_batch_sizes,
)
from weightlight.measure.energy import measure_rapl_watts, with_energy
from weightlight.report.table import measurement_table


@app.command()
def train(
    model: str = typer.Option("mnist_cnn", help="Built-in model name or module:function."),
    data: str = typer.Option("digits", help=DATA_HELP),
    out: Path = typer.Option(Path("model.safetensors"), help="Where to save the trained weights."),
    epochs: float = typer.Option(15, help="Passes over the training set."),
    lr: float = typer.Option(3e-3, help="Peak learning rate (one-cycle schedule)."),
    seed: int = typer.Option(0, help="Seed for initialisation, shuffling, augmentation, dropout."),
    device: str | None = typer.Option(None, help=DEVICE_HELP),
) -> None:
    """Train a model on a data source and save it as safetensors."""
    check_writable(out)  # before training, not after
    resolve_device(device)  # a bad or missing device fails before anything is loaded
    dataset = wl.data.load_data(data, seed=seed)
    torch.manual_seed(seed)  # a built-in name is initialised here; torch's own seed is random
    net = wl.models.load_model(model)
    trained = wl.train(net, dataset, epochs=epochs, lr=lr, seed=seed, device=device)
    if wl.pipeline.process_rank() > 0:
        return  # under torchrun every rank holds the same trained model: rank 0 saves it
    wl.models.save_model(trained, out)
    result = wl.measure(trained, dataset, name=out.stem, runs=20)
    console.print(measurement_table([result], title=f"trained {model} -> {out}"))


@app.command()
def measure(
    model: str = typer.Argument(
        ..., help="Model file (.safetensors/.pt/.pt2/.onnx) or built-in name."
    ),
    data: str = typer.Option("digits", help=DATA_HELP),
    arch: str | None = typer.Option(None, "--model", help=MODEL_FACTORY_HELP),
    batch_sizes: str = typer.Option("1,64", help="Comma-separated batch sizes to time."),
    threads: int | None = typer.Option(None, help="Intra-op threads while timing (default: all)."),
    runs: int = typer.Option(50, help="Timed runs per batch size (after 10 warm-up runs)."),
    as_json: bool = typer.Option(False, "--json", help="Print the Measurement as JSON."),
    carbon: float = typer.Option(475.0, min=0, help="Grid carbon intensity, gCO2e per kWh."),
    price: float = typer.Option(0.15, min=0, help="Electricity price per kWh."),
    currency: str = typer.Option("USD", help="Currency of --price."),
    trust: bool = typer.Option(False, "--trust", help=TRUST_HELP),
) -> None:
    """Measure params, size, MACs, latency, accuracy, memory, and energy / CO2 / cost per
    million inferences (as `run` and `search` do; docs/energy.md says how)."""
    sizes = parse_batch_sizes(batch_sizes)
    dataset = wl.data.load_data(data)
    net = wl.models.load_model(model, factory=arch, trust=trust)
    result = wl.measure(
        net, dataset, name=Path(model).stem, batch_sizes=sizes, threads=threads, runs=runs
    )
    watts = measure_rapl_watts(
        wl.measure.as_runnable(net).run, dataset.example_batch(max(sizes))
    )  # None where RAPL is unreadable (VMs): then estimated from the threads
    result = with_energy(
        result, carbon_g_per_kwh=carbon, price_per_kwh=price, currency=currency, rapl_watts=watts
    )
    if as_json:
        typer.echo(json.dumps(json.loads(result.to_json()), indent=2))
        return
    console.print(measurement_table([result]))
    e = result.energy
    if e is not None:
        console.print(
            f"per 1M inferences (batch {e.batch_size}): {e.kwh_per_1m:.4g} kWh, "
            f"{e.co2_g_per_1m:.3g} g CO2e, {e.cost_per_1m:.3g} {e.currency}",
            highlight=False,
        )
        console.print(f"  how: {e.method}", highlight=False, markup=False)
