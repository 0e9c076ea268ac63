"""`weightlight search` (accuracy-aware search) and `weightlight advise` (the advisor)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import weightlight as wl
from weightlight._io import check_writable_layout
from weightlight.accelerator import use_device
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
from weightlight.cli.pipeline import _base_model
from weightlight.search.study import OBJECTIVES, SearchResult, check_arguments, check_storage

_MODEL_HELP = (
    "Built-in model name (trained on the data first, cached), a model file, hf:FOLDER (a local "
    "Hugging Face model, read offline), or module:function returning a trained nn.Module."
)
_UNITS = {"latency": "ms", "size": "bytes", "energy": "J/1M"}


@app.command()
def search(
    model: str = typer.Option("mnist_cnn", help=_MODEL_HELP),
    weights: Path | None = typer.Option(None, help="Weights for the architecture in --model."),
    data: str = typer.Option("digits", help=DATA_HELP),
    max_drop: float = typer.Option(1.0, help="Accuracy budget: metric points the best may lose."),
    objective: str = typer.Option("latency", help=f"What to minimize: {'|'.join(OBJECTIVES)}."),
    trials: int = typer.Option(20, help="Total trials of the study (shared by all workers)."),
    time_budget: float | None = typer.Option(None, help="Stop starting trials after S seconds."),
    storage: str | None = typer.Option(
        None, help="Optuna RDB URL shared by workers (default: sqlite in --out)."
    ),
    space: str = typer.Option(
        "cnn", help="Search-space YAML or built-in: cnn (the seed CNN), convnet, tiny, bert."
    ),
    out: Path = typer.Option(Path("runs/search"), help="Search folder (trials, report)."),
    study_name: str | None = typer.Option(None, help="Study name (default: the space's name)."),
    epochs: float = typer.Option(15, help="Epochs when a built-in model is trained first."),
    seed: int | None = typer.Option(None, help="Sampler seed (leave unset with several workers)."),
    metric: str = typer.Option(
        "task",
        help="task (the task's metric: top-1 %, embedding cosine x100, MSE, perplexity), "
        "accuracy, or cosine (100 x output cosine vs the base).",
    ),
    trust: bool = typer.Option(False, "--trust", help=TRUST_HELP),
    task: str | None = typer.Option(None, help=TASK_HELP),
    max_length: int = typer.Option(128, help=MAX_LENGTH_HELP),
    fixed_length: bool = typer.Option(False, "--fixed-length", help=FIXED_LENGTH_HELP),
    device: str | None = typer.Option(None, help=DEVICE_HELP),
) -> None:
    """Search compression recipes for the cheapest variant within --max-drop points.

    Every trial is a measured variant under OUT/trials/<n>/; OUT/report.html shows the Pareto
    front. Ctrl-C keeps the finished trials and prints the front so far.
    """
    check_arguments(max_drop, objective, trials, time_budget, metric)  # before any training
    if storage:
        check_storage(storage)
    check_writable_layout(out, folders=("cache", "trials", "plots"),
                          files=("search.json", "report.html", "report.json"))  # fmt: skip
    parsed = wl.search.load_space(space)
    dataset = wl.data.load_data(
        data, model=model, task=task, max_length=max_length, fixed_length=fixed_length
    )
    with use_device(device):  # checked (and used) before the base model is trained
        base, factory = _base_model(model, weights, dataset, out, epochs, trust)
    console.print(f"[bold]weightlight search[/] {parsed.name}: {trials} trials, {objective}, "
                  f"max drop {max_drop:g} -> {out}")  # fmt: skip
    columns = (TextColumn("{task.fields[label]}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.description}"))  # fmt: skip
    with Progress(*columns, console=console, transient=False) as bar:
        ranking = None

        def on_rank(done: int, total: int, step: str) -> None:
            nonlocal ranking
            if ranking is None:
                ranking = bar.add_task("", total=total, label="ranking")
            bar.update(ranking, completed=done, total=total, description=step)

        task = bar.add_task("", total=trials, label="trials")

        def on_trial(done: int, total: int, result) -> None:
            last = (f"last: drop {result.metric_drop:+.2f}, {result.cost:.4g} "
                    f"{_UNITS[objective]}" if result else "last: failed")  # fmt: skip
            bar.update(task, completed=done, description=last)

        result = wl.search(
            base, dataset, space=parsed, max_drop=max_drop, objective=objective, trials=trials,
            time_budget=time_budget, storage=storage, out=out, study_name=study_name,
            factory=factory, seed=seed, metric=metric, on_trial=on_trial, device=device,
            on_rank=on_rank,
        )  # fmt: skip
    _print_result(result)
    if result.interrupted:
        console.print("interrupted: finished trials are kept in the study; rerun to continue")
        raise typer.Exit(130)


def _print_result(result: SearchResult) -> None:
    unit = _UNITS[result.objective]
    base_cost = wl.search.study.cost_of(result.base, result.objective)
    table = Table(title=f"Pareto front ({len(result.trials)} finished trials)")
    for column in ("trial", "variant", "val drop", "test drop", result.objective, "vs base",
                   "choices"):  # fmt: skip
        table.add_column(column)
    for t in result.front:
        ratio = f"{base_cost / t.cost:.2f}x" if base_cost and t.cost else "-"
        choices = ", ".join(f"{k.split('.', 1)[-1]}={v}" for k, v in t.params.items())
        mark = " *" if result.best and t.number == result.best.number else ""
        table.add_row(str(t.number) + mark, t.variant.config.get("method", ""),
                      f"{t.metric_drop:+.2f}", _drop(t.test_drop), f"{t.cost:.4g} {unit}", ratio,
                      choices)  # fmt: skip
    console.print(table)
    for number, error in result.failed:
        console.print(f"[red]trial {number} failed:[/] {error}", highlight=False)
    if result.best is None:
        console.print(f"no trial within {result.max_drop:g} points of the base")
    else:
        b = result.best
        console.print(
            f"best within {result.max_drop:g} pt: [bold]trial {b.number}[/] "
            f"({b.variant.config.get('method')}): chosen on validation (drop "
            f"{b.metric_drop:+.2f}), test drop {_drop(b.test_drop)}, "
            f"{b.cost:.4g} {unit}" + (f" ({base_cost / b.cost:.2f}x vs base)" if base_cost else "")
        )
    console.print(f"report: {result.out / 'report.html'}")


@app.command()
def advise(
    model: str = typer.Option("mnist_cnn", help=_MODEL_HELP),
    weights: Path | None = typer.Option(None, help="Weights for the architecture in --model."),
    data: str = typer.Option("digits", help=DATA_HELP),
    out: Path = typer.Option(Path("runs/advise"), help="Folder for the trained-model cache."),
    epochs: float = typer.Option(15, help="Epochs when a built-in model is trained first."),
    trust: bool = typer.Option(False, "--trust", help=TRUST_HELP),
) -> None:
    """Measure the model and list the techniques to try first, with the measured reasons."""
    check_writable_layout(out, folders=("cache",))
    dataset = wl.data.load_data(data)
    base, _ = _base_model(model, weights, dataset, out, epochs, trust)
    advice = wl.search.advise(base, dataset)
    layers = Table(title="Where the MACs and bytes are (batch 1)")
    for column in ("layer", "type", "params", "MACs", "% MACs", "% bytes", "int8 cosine alone"):
        layers.add_column(column)
    cosine = dict(advice.quant_sensitivity)
    for c in advice.layers:
        layers.add_row(
            c.name, c.type, f"{c.params:,}", f"{c.macs:,}",
            f"{100 * c.macs / max(1, advice.total_macs):.1f}",
            f"{100 * c.bytes / max(1, advice.total_bytes):.1f}",
            f"{cosine[c.name]:.4f}" if c.name in cosine else "-",
        )  # fmt: skip
    console.print(layers)
    console.print(f"CPU: {advice.cpu.summary()}")
    if advice.prune_sensitivity:
        worst = ", ".join(f"{n} -{d:.1f} pt" for n, d in advice.prune_sensitivity[:3])
        console.print(f"pruning half of one layer alone, most fragile: {worst}")
    for note in advice.notes:
        console.print(f"note: {note}")
    console.print("[bold]Try first:[/]")
    for i, rec in enumerate(advice.recommendations, 1):
        console.print(f" {i}. [bold]{rec.technique}[/]: {rec.reason}", highlight=False)
        if rec.recipe != "-":
            console.print(f"    recipe stage: {rec.recipe}", highlight=False)


def _drop(value: float | None) -> str:
    return f"{value:+.2f}" if value is not None else "-"
