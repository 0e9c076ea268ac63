"""The whole job in Python: prune, distil, quantize, export, and compare every variant.

    python examples/model_optimization.py [--out runs/example]

Same as `weightlight run`, but with the recipe built in code.
"""

import argparse

from rich.console import Console

import weightlight as wl
from weightlight.report.table import measurement_table

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/example")
parser.add_argument("--epochs", type=float, default=15, help="training epochs of the base model")
args = parser.parse_args()

data = wl.data.digits()
model = wl.train(wl.models.mnist_cnn(), data, epochs=args.epochs)

prune = {"method": "structured", "ratio": 0.5, "finetune": {"epochs": 3}}
recipe = wl.recipe.parse_recipe({
    "name": "example",
    "stages": [
        {"prune": prune, "name": "pruned"},
        {"distill": {"method": "logit", "temperature": 4.0, "epochs": 3}, "name": "distilled"},
        {"export": {"format": "onnx", "quantize": "static_int8"}, "name": "onnx-int8"},
    ],
    "baselines": False,
})  # fmt: skip
variants = wl.run(recipe, model, data, args.out, resume=True)
report = wl.report(args.out)

rows = [v.measurement for v in variants if v.measurement]
Console(width=160).print(measurement_table(rows, title="what each stage changed"))
best = report.summary.get("best")
if best:
    print(
        f"best: {best['name']}: {best['speedup']:.1f}x faster, {best['size_ratio']:.1f}x smaller, "
        f"accuracy drop {best['metric_drop']:+.2f} points"
    )
print(f"report: {report.html_path}")
