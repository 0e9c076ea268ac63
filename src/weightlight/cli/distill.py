"""`weightlight distill`: train a student from a teacher (or peers) and compare the two."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

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

_BY_METHOD = {c.model_fields["method"].default: c for c in wl.distill.CONFIGS}


def _config(method: str, options: list[str]) -> wl.distill.DistillConfig:
    """`logit` + ["temperature=4", "pairs={conv2: conv2}"] -> a validated config."""
    if method not in _BY_METHOD:
        raise UserError(
            f"unknown distill method '{method}'", f"choose one of {', '.join(_BY_METHOD)}"
        )
    values = {}
    for item in options:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"option '{item}' is not key=value", "use e.g. -o temperature=4")
        try:
            values[key.strip()] = yaml.safe_load(text)  # numbers, lists and {a: b} maps
        except yaml.YAMLError:
            raise UserError(
                f"option '{item}' has an unreadable value", "quote it as YAML"
            ) from None
    return _BY_METHOD[method](**values)


@app.command("distill")
def distill_command(
    teachers: list[str] = typer.Argument(
        None,
        help="Teacher model file(s) or built-in name; several for multi_teacher, none for online.",
    ),
    out: Path = typer.Option(Path("student.safetensors"), help="Where to save the student."),
    method: str = typer.Option("logit", help=f"One of: {', '.join(_BY_METHOD)}."),
    option: list[str] = typer.Option(
        [],
        "--option",
        "-o",
        help="Config field as key=value (YAML value), repeatable: -o temperature=4.",
    ),
    student: str | None = typer.Option(
        None,
        help="Student: model file, built-in name or module:function (default: shrunk teacher).",
    ),
    width: float = typer.Option(0.5, help="Width of the default student (wl.models.shrink)."),
    data: str = typer.Option("digits", help=DATA_HELP),
    arch: str | None = typer.Option(None, "--arch", help=MODEL_FACTORY_HELP),
    trust: bool = typer.Option(False, "--trust", help=TRUST_HELP),
    device: str | None = typer.Option(None, help=DEVICE_HELP),
) -> None:
    """Distil a student, save it, and print teacher and student side by side."""
    config = _config(method, option)  # checked before anything is loaded or trained
    check_writable(out)
    resolve_device(device)
    teachers = teachers or []
    if not teachers and student is None:
        raise UserError("no teacher and no --student given", "name a teacher model or --student")
    # a text file is tokenized by the teacher's (or student's) Hugging Face folder
    dataset = wl.data.load_data(data, model=teachers[0] if teachers else student)
    loaded = [wl.models.load_model(t, factory=arch, trust=trust) for t in teachers]
    net = (
        wl.models.load_model(student, trust=trust)
        if student
        else wl.models.shrink(loaded[0], width=width)
    )
    teacher = loaded[0] if len(loaded) == 1 else (loaded or None)
    trained = wl.distill(net, config, dataset, teacher=teacher, progress=True, device=device)
    wl.models.save_model(trained, out)
    named = [(Path(t).stem, m) for t, m in zip(teachers, loaded, strict=True)]
    rows = [wl.measure(m, dataset, name=n, runs=20) for n, m in [*named, (method, trained)]]
    console.print(measurement_table(rows, baseline=rows[0]))
    console.print(f"saved to {out}")
