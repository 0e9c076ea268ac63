"""Pruning the seed MNIST CNN: sensitivity, structured, unstructured, N:M and gradual.

Run: .venv/bin/python examples/pruning_example.py [--epochs 15]   (about a minute on 2 cores)
"""

from __future__ import annotations

import argparse

from rich.console import Console

import weightlight as wl
from weightlight.config import Finetune
from weightlight.report.table import measurement_table


def main(epochs: float) -> None:
    data = wl.data.digits()
    model = wl.train(wl.models.mnist_cnn(), data, epochs=epochs, progress=False)

    # 1. Which layers tolerate pruning? Each one pruned alone, no fine-tuning.
    result = wl.prune.sensitivity(model, data, ratios=(0.25, 0.5, 0.75))
    for row in result.table():
        print(f"{row['layer']:>6} ratio {row['ratio']:.2f}: accuracy drop {row['drop']:+.2f}")
    result.plot("runs/pruning_example/sensitivity.png")

    # 2. Channels removed for real (+ a short fine-tune): smaller and faster.
    structured = wl.prune(model, wl.prune.Structured(ratio=0.5, finetune=Finetune(epochs=3)), data)
    wl.models.save_model(structured, "runs/pruning_example/structured.safetensors")

    # 3. Weights zeroed: same shapes, the zipped file shrinks.
    sparse = wl.prune(model, wl.prune.Unstructured(ratio=0.8, scope="global"), data)
    # 4. 2:4 semi-structured masks, and 5. sparsity reached gradually while training (AGP).
    nm = wl.prune(model, wl.prune.NM(n=2, m=4), data)
    gradual = wl.prune(
        model,
        wl.prune.Gradual(target=wl.prune.Unstructured(ratio=0.9), training=Finetune(epochs=2)),
        data,
    )

    variants = {"fp32": model, "structured50": structured, "unstructured80": sparse,
                "nm2:4": nm, "gradual90": gradual}  # fmt: skip
    rows = [wl.measure(m, data, name=n, runs=20) for n, m in variants.items()]
    Console().print(measurement_table(rows, title="seed CNN on digits"))


def epochs_argument() -> float:
    """`--epochs N` for the seed CNN (default 15, about 25 s on 2 cores); tests pass 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=15, help="training epochs of the CNN")
    return parser.parse_args().epochs


if __name__ == "__main__":
    main(epochs_argument())
