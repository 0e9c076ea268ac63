"""Teacher vs distilled students on digits: size, latency and accuracy for every method.

Run by hand (timings on a shared machine are noisy: read the ratios, rerun to confirm):

    .venv/bin/python benchmarks/bench_distill.py --epochs 3 --threads 2

The teacher is the seed CNN (1,199,882 params), trained once and cached in runs/bench_distill/.
Every student is a half-width seed CNN (300,426 params; an MLP for the cross-model row)
trained with the same epochs and seed; "hard labels" is the same student without a teacher.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from rich.console import Console

import weightlight as wl
from weightlight.report.table import measurement_table


def plan(epochs: float) -> list[tuple[str, str, object, str]]:
    """(row name, student kind, config, teacher kind) in run order.

    Student kinds: "half" (half-width seed CNN), "mlp" (wl.models.mlp), "logit" (the logit
    row's result, for born-again). Teacher kinds: "cnn", "both" (CNN + ResNet), "none".
    """
    d, e = wl.distill, {"epochs": epochs}
    return [
        ("hard labels", "half", None, "none"),
        ("logit", "half", d.Logit(temperature=4.0, alpha=0.7, **e), "cnn"),
        ("feature", "half", d.Feature(pairs={"conv2": "conv2", "fc1": "fc1"}, **e), "cnn"),
        ("attention", "half", d.Attention(pairs={"conv1": "conv1", "conv2": "conv2"}, **e), "cnn"),
        ("relation", "half", d.Relation(student_layer="fc1", teacher_layer="fc1", **e), "cnn"),
        ("self (born-again)", "logit", d.BornAgain(**e), "none"),
        ("online (2 peers)", "half", d.Online(num_peers=2, **e), "none"),
        ("multi_teacher", "half", d.MultiTeacher(weights=(0.5, 0.5), **e), "both"),
        ("cross-model mlp", "mlp",
         d.Feature(pairs={"net.2": "conv2", "net.4": "fc1"}, alpha=0.5, **e), "cnn"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_distill"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console(width=200)
    data = wl.data.digits(seed=0)

    cache = args.out / "teacher.safetensors"
    if cache.exists():
        teacher = wl.models.load_model(cache).eval()
    else:
        torch.manual_seed(0)
        teacher = wl.train(wl.models.mnist_cnn(), data, seed=0)
        wl.models.save_model(teacher, cache)
    second = args.out / "teacher_resnet.safetensors"
    if second.exists():
        resnet = wl.models.load_model(second).eval()
    else:
        torch.manual_seed(0)
        resnet = wl.train(wl.models.resnet_small(), data, epochs=10, seed=0)
        wl.models.save_model(resnet, second)

    def measure(name: str, model: torch.nn.Module) -> wl.Measurement:
        return wl.measure(model, data, name=name, threads=args.threads, runs=args.runs)

    rows = [measure("teacher (seed CNN)", teacher), measure("teacher 2 (resnet)", resnet)]
    trained_logit = None
    for name, kind, config, teacher_kind in plan(args.epochs):
        torch.manual_seed(0)  # every student of a kind starts from the same weights
        if kind == "logit":
            student = trained_logit
        else:
            student = wl.models.shrink(teacher, width=0.5) if kind == "half" else wl.models.mlp()
        given = {"cnn": teacher, "both": [teacher, resnet], "none": None}[teacher_kind]
        if config is None:
            trained = wl.train(student, data, epochs=args.epochs, seed=0, progress=False)
        else:
            trained = wl.distill(student, config, data, teacher=given, progress=True)
        trained_logit = trained if name == "logit" else trained_logit
        rows.append(measure(name, trained))
    console.print(
        measurement_table(
            rows,
            baseline=rows[0],
            title=f"distillation, {args.epochs} epochs, {args.threads} threads",
        )
    )
    for row in rows[2:]:
        p1 = {p.batch_size: p.p50_ms for p in row.latency}
        t1 = {p.batch_size: p.p50_ms for p in rows[0].latency}
        ratios = ", ".join(f"b{b}: {p1[b] / t1[b]:.2f}x" for b in sorted(p1))
        base = rows[0]
        console.print(
            f"{row.name:20s} acc {row.metric:6.2f} ({row.metric - base.metric:+.2f} vs teacher) "
            f"params {row.params / base.params:.2f}x  size {row.size_bytes / base.size_bytes:.2f}x"
            f"  p50 latency vs teacher {ratios}"
        )


if __name__ == "__main__":
    main()
