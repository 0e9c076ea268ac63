"""Distil the seed MNIST CNN into a student with a quarter of its parameters.

    .venv/bin/python examples/distillation_example.py [--epochs 15]

Trains the teacher (15 epochs: 26 s on a 2-core AVX2 EPYC), then a half-width student
(300,426 of 1,199,882 parameters) three ways with the same budget and seed: hard labels alone,
logit KD, and feature hints; and an MLP taught by the CNN (cross-model). Prints one table.
"""

from __future__ import annotations

import argparse

import torch
from rich.console import Console

import weightlight as wl
from weightlight.report.table import measurement_table


def main(epochs: float) -> None:
    torch.manual_seed(0)
    data = wl.data.digits()
    teacher = wl.train(wl.models.mnist_cnn(), data, epochs=epochs, seed=0)

    def student() -> torch.nn.Module:
        torch.manual_seed(1)  # the same starting weights for every variant
        return wl.models.shrink(teacher, width=0.5)

    variants = {
        "teacher": teacher,
        "hard labels": wl.train(student(), data, epochs=3, seed=0),
        "logit KD": wl.distill(
            student(), wl.distill.Logit(temperature=4.0, alpha=0.7, epochs=3), data,
            teacher=teacher, progress=True,
        ),
        "feature hints": wl.distill(
            student(), wl.distill.Feature(pairs={"conv2": "conv2"}, alpha=0.5, epochs=3), data,
            teacher=teacher, progress=True,
        ),
        # Cross-model: the MLP's 256-wide layer regresses the CNN's pooled conv2 map.
        "mlp student": wl.distill(
            wl.models.mlp(), wl.distill.Feature(pairs={"net.2": "conv2"}, alpha=0.5, epochs=3),
            data, teacher=teacher, progress=True,
        ),
    }  # fmt: skip
    rows = [wl.measure(m, data, name=n, runs=20) for n, m in variants.items()]
    Console().print(measurement_table(rows, baseline=rows[0], title="distillation on digits"))


def epochs_argument() -> float:
    """`--epochs N` for the seed CNN (default 15, about 25 s on 2 cores); tests pass 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=15, help="training epochs of the CNN")
    return parser.parse_args().epochs


if __name__ == "__main__":
    main(epochs_argument())
