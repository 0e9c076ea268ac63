"""`weightlight run` (the main job) and `weightlight report`."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
import typer

import weightlight as wl
from weightlight._io import check_writable_layout, ensure_writable_dir
from weightlight.accelerator import use_device
from weightlight.cli import _lm_inputs as lm_inputs
from weightlight.cli._app import (
    DATA_HELP,
    DEVICE_HELP,
    FIXED_LENGTH_HELP,
    MAX_LENGTH_HELP,
    TASK_HELP,
    TRUST_HELP,
    app,
    console,
)
from weightlight.errors import UserError
from weightlight.models import registry
from weightlight.pipeline import RUN_FILES, RUN_FOLDERS
from weightlight.recipe import builtin_recipes, load_recipe
from weightlight.report import build_report, check_max_drop
from weightlight.report.table import measurement_table
from weightlight.variants import read_variants

_RUN_OUTPUTS = ("variants.jsonl", "models", "plots", "report.html", "report.json", "log.txt")


@app.command()
def run(
    recipe: str = typer.Argument("default", help="Recipe YAML file or built-in name."),
    model: str | None = typer.Option(
        None,
        help="Built-in model name (trained on the data first, cached; default: the recipe's "
        "model, else mnist_cnn; tiny_llama is the embedded language model), a model file, "
        "hf:FOLDER (a local Hugging Face model, read offline), or module:function returning a "
        "trained nn.Module. Code is imported only from here.",
    ),
    weights: Path | None = typer.Option(
        None, help="Weights file (.safetensors/.pt) for the architecture named by --model."
    ),
    data: str | None = typer.Option(
        None, help=DATA_HELP + " Default: the recipe's data, else digits."
    ),
    out: Path | None = typer.Option(None, help="Run folder (default: runs/<recipe name>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Discard earlier results in --out (the trained-base cache stays).",
    ),
    epochs: float | None = typer.Option(
        None,
        help="Epochs when a built-in model is trained first (default: 15 for the CNNs, 1 for "
        "tiny_llama).",
    ),
    max_drop: float = typer.Option(
        1.0, help="Metric budget (points of the task's metric) for the 'best' variant."
    ),
    trust: bool = typer.Option(False, "--trust", help=TRUST_HELP),
    task: str | None = typer.Option(None, help=TASK_HELP + " Default: the recipe's task."),
    max_length: int = typer.Option(128, help=MAX_LENGTH_HELP),
    fixed_length: bool = typer.Option(False, "--fixed-length", help=FIXED_LENGTH_HELP),
    device: str | None = typer.Option(None, help=DEVICE_HELP + " Default: the recipe's device."),
) -> None:
    """Run a recipe: every stage's variant is saved, measured and reported.

    With no arguments: trains the seed MNIST CNN on the bundled digits, runs the default
    recipe and writes runs/default/report.html. `weightlight run lm`: trains a small Llama on
    Python's own docstrings (cached), compresses it and reports generation speed.
    """
    if resume and overwrite:
        raise UserError("--resume and --overwrite contradict each other", "pass only one")
    check_max_drop(max_drop)
    parsed = load_recipe(recipe)
    folder = out or Path("runs") / parsed.name
    ensure_writable_dir(folder)  # before training the base model, not after
    if overwrite:
        for name in _RUN_OUTPUTS:
            target = folder / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    check_writable_layout(folder, folders=("cache", *RUN_FOLDERS), files=RUN_FILES)
    if resume:
        read_variants(folder)  # a damaged record fails now, not after the base has trained
    model = model or parsed.model or "mnist_cnn"
    data = data or parsed.data or "digits"
    task = task or parsed.task
    with use_device(device or parsed.device):  # checked before the base model is trained
        if lm_inputs.is_embedded(model, data):
            base, dataset, factory = lm_inputs.load(model, data, weights, folder, epochs, console)
        else:
            dataset = wl.data.load_data(
                data, model=model, task=task, max_length=max_length, fixed_length=fixed_length
            )
            base, factory = _base_model(model, weights, dataset, folder, epochs or 15, trust)
        console.print(f"[bold]weightlight run[/] {parsed.name} -> {folder}")
        variants = wl.pipeline.run(
            parsed, base, dataset, folder, resume=resume, factory=factory, device=device,
            on_event=lambda msg: console.print(f"  {msg}", highlight=False, markup=False),
        )  # fmt: skip
    if wl.pipeline.process_rank() > 0:
        return  # under torchrun, rank 0 reports
    _print_report(folder, max_drop)
    failed = [v.name for v in variants if v.status == "failed"]
    if failed:
        console.print(f"[red]failed stages:[/] {', '.join(failed)} (see {folder / 'log.txt'})")
        raise typer.Exit(1)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run folder (holds variants.jsonl)."),
    max_drop: float = typer.Option(1.0, help="Accuracy budget (points) for the 'best' variant."),
) -> None:
    """Rebuild the table, report.json, plots and report.html from variants.jsonl (no model runs)."""
    check_max_drop(max_drop)
    _print_report(run_dir, max_drop)


@app.command("recipes")
def list_recipes() -> None:
    """List the built-in recipes."""
    for name in builtin_recipes():
        console.print(name)


def _print_report(folder: Path, max_drop: float) -> None:
    result = build_report(folder, max_drop=max_drop)
    rows = [v.measurement for v in result.variants if v.measurement is not None]
    if rows:
        flags = result.summary.get("flags")
        console.print(measurement_table(rows, title=f"{folder.name}", flags=flags))
    for key in ("best", "fastest", "smallest"):
        pick = result.summary.get(key)
        if pick and result.summary.get("generation"):  # a language model: by decode speed
            if key == "best" or pick["name"] != result.summary["best"]["name"]:
                console.print(
                    f"{key} within {max_drop:g} perplexity pt: [bold]{pick['name']}[/] "
                    f"{pick['decode_speedup']:.2f}x decode tokens/s, "
                    f"{pick['size_ratio']:.1f}x smaller, test drop {pick['metric_drop']:+.2f} "
                    f"({result.summary['generation']})"
                )
            continue
        if pick and (key == "best" or pick["name"] != result.summary["best"]["name"]):
            console.print(
                f"{key} within {max_drop:g} pt: [bold]{pick['name']}[/] "
                f"{pick['speedup']:.1f}x faster (bs{result.summary['batch_size']}), "
                f"{pick['size_ratio']:.1f}x smaller, test drop {pick['metric_drop']:+.2f}"
                + (" (within noise)" if pick.get("within_noise") else "")
                + f"; chosen on the {result.summary.get('selected_on', 'test split')}"
            )
    if "beats_peers" in result.summary:
        verdict = "beats" if result.summary["beats_peers"] else "does NOT beat"
        console.print(f"the recipe {verdict} the best tutorial-default peer "
                      f"({result.summary['best_peer']['name']})")  # fmt: skip
    console.print(f"report: {result.html_path}")


def _base_model(
    model: str, weights: Path | None, dataset, folder: Path, epochs: float, trust: bool
):
    """The trained base model and the factory that rebuilds its architecture (for resume)."""
    if weights is not None:
        return wl.models.load_model(weights, factory=model, trust=trust), model
    if registry.is_registered(model):
        cache = folder / "cache" / f"{model}-{dataset.name}-trained.safetensors"
        if cache.is_file():
            return wl.models.load_model(cache), None
        console.print(f"training {model} on {dataset.name} ({epochs:g} epochs, cached in {cache})")
        # torch seeds its default generator randomly per process: without this the base
        # (and every figure derived from it) changed from one fresh run to the next.
        torch.manual_seed(0)
        trained = wl.train(wl.models.create(model), dataset, epochs=epochs)
        if wl.pipeline.process_rank() == 0:  # under torchrun every rank trained the same model
            wl.models.save_model(trained, cache)
        return trained, None
    loaded = wl.models.load_model(model, trust=trust)
    return loaded, (model if ":" in model else None)
