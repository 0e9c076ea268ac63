"""`weightlight sensitivity` and `weightlight prune`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import typer
from rich.table import Table

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
)
from weightlight.errors import UserError
from weightlight.report.table import measurement_table

_METHODS = ("structured", "unstructured", "nm", "gradual")
_SCOPES = ("layer", "global")


def _parse_ratios(text: str) -> tuple[float, ...]:
    try:
        ratios = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserError(f"ratios '{text}' are not numbers", "use e.g. --ratios 0.25,0.5") from None
    if not ratios or any(not 0 <= r < 1 for r in ratios):
        raise UserError(f"ratios '{text}' must be in [0, 1)", "use e.g. --ratios 0.25,0.5,0.75")
    return ratios


@app.command()
def sensitivity(
    model: str = typer.Option(..., help="Model file (.safetensors/.pt) or built-in name."),
    data: str = typer.Option("digits", help=DATA_HELP),
    arch: str | None = typer.Option(None, "--arch", help=MODEL_FACTORY_HELP),
    ratios: str = typer.Option("0.25,0.5,0.75", help="Comma-separated ratios in [0, 1)."),
    kind: str = typer.Option("structured", help="structured (channels) or unstructured."),
    plot: Path | None = typer.Option(None, help="Write a PNG of metric vs ratio per layer."),
    trust: bool = typer.Option(False, "--trust", help=TRUST_HELP),
) -> None:
    """Prune each layer alone at several ratios and print the metric drop per layer (the
    data's task metric: top-1, cosine vs the unpruned model, perplexity, MSE)."""
    values = _parse_ratios(ratios)
    if kind not in ("structured", "unstructured"):
        raise UserError(f"unknown --kind '{kind}'", "use structured or unstructured")
    if plot is not None:
        check_writable(plot)  # before the sweep, not after it
    dataset = wl.data.load_data(data, model=model)  # a text file: hf:FOLDER's tokenizer
    net = wl.models.load_model(model, factory=arch, trust=trust)
    result = wl.prune.sensitivity(net, dataset, ratios=values, kind=kind)
    table = Table(title=f"{kind} sensitivity, {result.metric_name} (unpruned: "
                        f"{result.baseline:.2f}; drop > 0 is worse)")  # fmt: skip
    for column in ("layer", "ratio", result.metric_name, "drop"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for row in result.table():
        table.add_row(row["layer"], f"{row['ratio']:.2f}", f"{row['metric']:.2f}",
                      f"{row['drop']:+.2f}")  # fmt: skip
    console.print(table)
    if plot is not None:
        result.plot(plot)
        console.print(f"plot written to {plot}")


@app.command("prune")
def prune_command(
    model: str = typer.Argument(..., help="Model file (.safetensors/.pt) or built-in name."),
    out: Path = typer.Option(
        ...,
        help="Where to save the pruned model: a .safetensors file, or for a Hugging Face model "
        "a new folder (save_pretrained: config updated, reloads as hf:FOLDER).",
    ),
    method: str = typer.Option(
        "structured",
        help="structured (channels), unstructured (weights), nm (2:4) or gradual (the ratio "
        "reached step by step while training; see --target, --schedule).",
    ),
    ratio: float = typer.Option(0.5, help="Fraction pruned, in [0, 1) (not used by nm)."),
    scope: str | None = typer.Option(
        None,
        help="layer (the ratio in every layer) or global (rank all layers together, so fragile "
        "layers keep more). Default: global for unstructured, layer for structured.",
    ),
    target: str = typer.Option(
        "unstructured", help="With --method gradual: what is pruned (unstructured, structured)."
    ),
    schedule: str = typer.Option("agp", help="With --method gradual: agp (cubic) or linear."),
    finetune_epochs: float = typer.Option(
        0, help="Fine-tune epochs after pruning (0: none); for gradual, the training (default 5)."
    ),
    head_ratio: float = typer.Option(
        0.0, help="Transformers (structured): fraction of attention heads removed per block."
    ),
    ffn_ratio: float | None = typer.Option(
        None, help="Transformers (structured): fraction of FFN neurons removed (default: ratio)."
    ),
    layers: float = typer.Option(
        0.0, help="Transformers (structured): blocks dropped, a count (2) or a fraction (0.25)."
    ),
    importance: str = typer.Option(
        "l2", help="Structured unit score: l2, l1, taylor, activation (transformers) or random."
    ),
    data: str = typer.Option("digits", help=DATA_HELP),
    arch: str | None = typer.Option(None, "--arch", help=MODEL_FACTORY_HELP),
    trust: bool = typer.Option(False, "--trust", help=TRUST_HELP),
    device: str | None = typer.Option(None, help=DEVICE_HELP),
) -> None:
    """Prune one model, save it, and print it next to the unpruned one."""
    config = _config(method, ratio, finetune_epochs, scope, target, schedule)  # before loading
    config = _transformer_options(config, head_ratio, ffn_ratio, layers, importance)
    check_writable(out, folder=not out.suffix)
    if not out.suffix and out.exists() and any(out.iterdir()):
        raise UserError(f"'{out}' is a folder with files in it", "choose a new folder for --out")
    resolve_device(device)
    dataset = wl.data.load_data(data, model=model)  # a text file: hf:FOLDER's tokenizer
    net = wl.models.load_model(model, factory=arch, trust=trust)
    pruned = wl.prune(net, config, dataset, device=device)
    _save(pruned, out)
    rows = [
        wl.measure(m, dataset, name=n, runs=20) for n, m in (("unpruned", net), (method, pruned))
    ]
    console.print(measurement_table(rows, baseline=rows[0]))
    console.print(f"saved to {out}")


def _save(model, out: Path) -> None:
    """A file by its suffix; a Hugging Face model into a folder (written aside, then moved)."""
    if out.suffix:
        wl.models.save_model(model, out)
        return
    if not hasattr(model, "save_pretrained"):
        raise UserError(f"--out '{out}' is a folder, but only Hugging Face models save to one",
                        "give a .safetensors file name")  # fmt: skip
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    if out.exists():
        out.rmdir()  # empty (checked before pruning)
    os.replace(tmp, out)


def _config(
    method: str, ratio: float, finetune_epochs: float, scope: str | None, target: str,
    schedule: str,
):  # fmt: skip
    if method not in _METHODS:
        raise UserError(f"unknown --method '{method}'", f"use one of: {', '.join(_METHODS)}")
    if finetune_epochs < 0:
        raise UserError(f"--finetune-epochs must be >= 0, got {finetune_epochs}", "use e.g. 3")
    if scope is not None and scope not in _SCOPES:
        raise UserError(f"unknown --scope '{scope}'", "use layer or global")
    finetune = {"epochs": finetune_epochs} if finetune_epochs > 0 else None
    if method == "nm":
        if scope is not None:
            raise UserError("--scope does not apply to nm", "nm prunes 2 of every 4 weights")
        return wl.prune.NM(finetune=finetune)
    if method == "gradual":
        if target not in ("structured", "unstructured"):
            raise UserError(f"unknown --target '{target}'", "use unstructured or structured")
        if schedule not in ("agp", "linear"):
            raise UserError(f"unknown --schedule '{schedule}'", "use agp or linear")
        final = _one_shot(target, ratio, None, scope)
        training = finetune or {"epochs": 5}
        return wl.prune.Gradual(target=final, schedule=schedule, training=training)
    return _one_shot(method, ratio, finetune, scope)


def _transformer_options(config, head_ratio, ffn_ratio, layers, importance):
    """--head-ratio / --ffn-ratio / --layers / --importance: fields of a structured config."""
    given = {"head_ratio": head_ratio, "ffn_ratio": ffn_ratio, "layers": layers,
             "importance": importance}  # fmt: skip
    changed = {k: v for k, v in given.items() if v != {"head_ratio": 0.0, "ffn_ratio": None,
               "layers": 0.0, "importance": "l2"}[k]}  # fmt: skip
    if not changed:
        return config
    if not isinstance(config, wl.prune.Structured):
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise UserError(f"{flags} apply to --method structured", "drop them or use structured")
    return wl.prune.Structured(**{**config.model_dump(), **changed})


def _one_shot(method: str, ratio: float, finetune, scope: str | None):
    if method == "structured":
        return wl.prune.Structured(ratio=ratio, finetune=finetune, global_pruning=scope == "global")
    return wl.prune.Unstructured(ratio=ratio, finetune=finetune, scope=scope or "global")
