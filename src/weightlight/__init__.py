"""weightlight: make trained PyTorch models lighter, and measure what it cost.

import weightlight as wl
data = wl.data.digits()
model = wl.train(wl.models.mnist_cnn(), data, epochs=5)
print(wl.measure(model, data).to_json())
"""

# `measure` is the package itself, made callable: wl.measure(model, data) and
# wl.measure.Measurement both work.
from weightlight import (
    data,
    distill,
    export,
    measure,
    models,
    pipeline,
    prune,
    quantize,
    quick,
    recipe,
    report,
    search,
)
from weightlight.errors import UserError
from weightlight.measure.record import Measurement
from weightlight.pipeline import run
from weightlight.train import train

__version__ = "0.1.0"

__all__ = [
    "Measurement",
    "UserError",
    "data",
    "distill",
    "export",
    "measure",
    "models",
    "pipeline",
    "prune",
    "quantize",
    "quick",
    "recipe",
    "report",
    "run",
    "search",
    "train",
]
