"""The quick path: a model and an input shape, no data bundle.

The utilities a compression course starts with — count parameters, model size in MB, time the
model on a random input of a given shape, save and load — as one-liners. They share the code
of `wl.measure` (which counts, saves and times the same way) but skip what needs data: accuracy,
calibration, MACs per sample, memory, energy. When those matter, `wl.measure(model, data)` is
the thorough path.

    >>> import weightlight as wl
    >>> model = wl.models.mnist_cnn()
    >>> wl.quick.count_parameters(model)
    1199882
    >>> round(wl.quick.size_mb(model), 2)
    4.8
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch import nn

from weightlight.errors import UserError
from weightlight.measure.latency import measure_latency
from weightlight.measure.runnable import as_runnable
from weightlight.measure.size import file_sizes
from weightlight.models.io import load_model, save_model

__all__ = ["benchmark", "count_parameters", "load", "save", "size_mb"]


def count_parameters(model, *, nonzero: bool = False) -> int:
    """Weights in the model (biases included, BatchNorm statistics not); with `nonzero`, only
    those that are not zero, which is what unstructured pruning lowers."""
    total, nonzero_count = as_runnable(model).param_counts()
    return nonzero_count if nonzero else total


def size_mb(model, *, zipped: bool = False) -> float:
    """Megabytes (1e6 bytes) of the model saved as it would be deployed: safetensors for float
    models, a weights-only .pt for torch int8, the .onnx file for ONNX models. With `zipped`,
    after DEFLATE: pruned zeros only shrink the file once compressed."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, packed = file_sizes(as_runnable(model).save(Path(tmp)))
    return (packed if zipped else raw) / 1e6


def benchmark(
    model,
    input_shape: tuple[int, ...] = (1, 1, 28, 28),
    *,
    runs: int = 50,
    warmup: int = 10,
    threads: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> dict[str, float]:
    """Latency of `model` on a random input of `input_shape`: median and p90 in milliseconds,
    and inputs per second. `input_shape` includes the batch dimension.

    Example:
        `wl.quick.benchmark(model, (1, 1, 28, 28))` -> `{"p50_ms": 0.21, "p90_ms": 0.25, ...}`
    """
    if not input_shape or any(int(n) < 1 for n in input_shape):
        raise UserError(
            f"input_shape {tuple(input_shape)} has a size below 1", "use (1, 1, 28, 28)"
        )
    if runs < 1 or warmup < 0:
        raise UserError(f"runs={runs}, warmup={warmup}", "use runs >= 1 and warmup >= 0")
    runnable = as_runnable(model)
    previous = torch.get_num_threads()
    runnable.set_threads(threads or previous)
    batch = torch.randn(*input_shape).to(dtype)
    try:
        runnable.run(batch[:1])  # a wrong shape fails here, with the model's own message
    except (RuntimeError, ValueError) as exc:
        raise UserError(
            f"the model cannot run on input_shape {tuple(input_shape)}: "
            f"{str(exc).splitlines()[0][:160]}",
            "pass the shape the model was built for, batch dimension first",
        ) from None
    try:
        (point,) = measure_latency(
            runnable.run, lambda _bs: batch, (input_shape[0],), warmup=warmup, runs=runs
        )
    finally:
        torch.set_num_threads(previous)
    return {"p50_ms": point.p50_ms, "p90_ms": point.p90_ms, "mean_ms": point.mean_ms,
            "per_second": point.throughput_per_s, "runs": point.runs}  # fmt: skip


def save(model: nn.Module, path: str | Path) -> Path:
    """Save atomically; the suffix picks the format (.safetensors by default, .pt for torch
    int8 models, which safetensors cannot hold). Returns the path written."""
    return save_model(model, path)


def load(path: str | Path, architecture: str | nn.Module | None = None) -> nn.Module:
    """Load what `save` wrote. A built-in model's file names its architecture; for your own
    model pass `architecture`: a registry name, `module:function`, or an untrained instance
    whose shapes the weights fill in."""
    if isinstance(architecture, nn.Module):
        instance = architecture
        return load_model(path, factory=lambda: instance)
    return load_model(path, factory=architecture)
