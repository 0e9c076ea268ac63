"""Measure a model the same way whatever it is: `wl.measure(model, data)` -> Measurement."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from weightlight import batch as batches
from weightlight._callable_module import make_callable
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.measure.generation import METHOD as GENERATION_METHOD
from weightlight.measure.generation import GenerationOptions, measure_model_generation
from weightlight.measure.latency import measure_latency
from weightlight.measure.metric import Metric, score, top1_accuracy
from weightlight.measure.record import Energy, GenerationPoint, LatencyPoint, Measurement
from weightlight.measure.runnable import Runnable, as_runnable
from weightlight.measure.size import file_sizes

__all__ = [
    "Energy",
    "GenerationOptions",
    "GenerationPoint",
    "LatencyPoint",
    "Measurement",
    "Runnable",
    "as_runnable",
    "measure",
    "top1_accuracy",
]

# Called after the core fields are measured, to add e.g. energy (set by weightlight.measure.energy).
Enricher = Callable[[Measurement], Measurement]


def measure(
    model,
    data: Data,
    *,
    name: str = "model",
    batch_sizes: tuple[int, ...] = (1, 64),
    threads: int | None = None,
    metric: Metric | None = None,
    metric_name: str | None = None,
    warmup: int = 10,
    runs: int = 50,
    artifact_dir: str | os.PathLike | None = None,
    enrich: Enricher | None = None,
    generation: GenerationOptions | None = None,
) -> Measurement:
    """Measure size, MACs, latency, throughput, metric and peak memory of `model`.

    Args:
        model: an nn.Module, or any model a runtime registered with `as_runnable` (ONNX).
        data: supplies the example input (latency, MACs, memory), `eval` (the test metric)
            and `val` (the validation metric selection uses).
        name: the variant's name in reports.
        batch_sizes: batch sizes timed for latency and throughput.
        threads: intra-op threads during timing; the current torch setting when None.
        metric: `metric(outputs, targets) -> float`; the data's task metric when None
            (top-1 %, cosine vs `data.reference` x100, MSE or perplexity).
        metric_name: its name in reports (the task's metric name when None).
        warmup, runs: untimed and timed calls per batch size.
        artifact_dir: where the sized artifact is written (a temporary folder when None).
        enrich: adds derived fields (energy) to the finished record.
        generation: how a causal LM's generation is timed (time to first token, decode
            tokens/s with the key/value cache, its peak memory); default `GenerationOptions()`.
            Only for the causal_lm task, and only for models that can decode token by token
            (`weightlight.measure.generation.as_decoder`); other records keep None.

    Example:
        >>> import weightlight as wl
        >>> m = wl.measure(wl.models.mnist_cnn(), wl.data.digits(), runs=5, warmup=1)
        >>> m.params
        1199882
    """
    if not batch_sizes or any(b < 1 for b in batch_sizes):
        raise UserError(f"batch sizes must be >= 1, got {batch_sizes}", "use e.g. 1,64")
    if runs < 1 or warmup < 0:
        raise UserError(
            f"timing needs runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}",
            "use e.g. runs=50 (--runs 50) and warmup=10",
        )
    if threads is not None and threads < 1:
        raise UserError(f"threads must be >= 1, got {threads}", "omit it to use all cores")
    metric_name = metric_name or (data.task_spec.metric_name if metric is None else "metric")
    runnable = as_runnable(model, data.adapter)
    threads = threads or torch.get_num_threads()
    previous = torch.get_num_threads()
    runnable.set_threads(threads)
    try:
        if isinstance(model, torch.nn.Module):
            data.adapter.check(model, data.example_input)
        _check_runs(runnable, data)
        _check_batch(runnable, data, max(*batch_sizes, getattr(data.eval, "batch_size", 1) or 1))
        total, nonzero = runnable.param_counts()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(artifact_dir) if artifact_dir else Path(tmp)
            path = runnable.save(folder)
            raw, zipped = file_sizes(path)
            fmt = path.suffix.lstrip(".")
        example = data.example_batch(max(batch_sizes))
        macs_total = runnable.macs(data.example_batch(1))
        peak, peak_method = runnable.peak_memory(example)
        result = score(runnable.run, data, metric)
        has_val = data.val is not None
        val_result = score(runnable.run, data, metric, split="val") if has_val else None
        latency = measure_latency(
            runnable.run, data.example_batch, tuple(batch_sizes), warmup=warmup, runs=runs
        )
        options = generation or GenerationOptions()
        gen = None
        if data.task == "causal_lm":
            gen = measure_model_generation(model, data.eval, options, threads)
    finally:
        torch.set_num_threads(previous)
    record = Measurement(
        name=name,
        runtime=runnable.runtime,
        params=total,
        nonzero_params=nonzero,
        size_bytes=raw,
        size_zipped_bytes=zipped,
        artifact_format=fmt,
        macs=macs_total,
        threads=threads,
        latency=latency,
        metric_name=metric_name,
        metric=result.value,
        metric_worst=result.worst,
        metric_higher_is_better=data.task_spec.higher_is_better if metric is None else True,
        peak_memory_bytes=peak,
        methods={
            # One definition per column whatever the runtime; `counted_by` names the tool.
            "params": "elements of the saved model's weight tensors (pruning masks applied, "
            "int8 weights counted once)",
            "size": "bytes of the saved deployable artifact (artifact_format); zipped = DEFLATE "
            "level 6",
            "macs": "multiply-accumulates of one batch-1 forward: conv, linear/matmul/gemm and "
            "attention products (elementwise ops not counted); '?' where an op with weights "
            "is not understood",
            "counted_by": "params: state_dict tensors; MACs: torch.utils.flop_counter FLOPs / 2",
            "latency": f"{warmup} warm-up + up to {runs} timed calls per batch size, "
            f"perf_counter, median and p90, {threads} intra-op threads",
            "metric": f"{metric_name} on the held-out test split (data.eval, "
            f"{_samples(data.eval) or 'all'} samples)"
            + (
                f"; selection uses the validation split ({_samples(data.val) or 'all'} samples)"
                if data.val is not None
                else "; no validation split: selection uses it too"
            ),
            "peak_memory": peak_method,
            **_generation_methods(data, gen, options, runnable.runtime),
            **getattr(runnable, "method_notes", {}),
        },
        notes=tuple(getattr(model, "notes", ()) or ()),
        val_metric=val_result.value if val_result is not None else None,
        metric_samples=_samples(data.eval),
        val_samples=_samples(data.val) if data.val is not None else None,
        device=getattr(runnable, "device", "cpu"),
        generation=gen,
    )
    return enrich(record) if enrich else record


def _generation_methods(data: Data, gen, options: GenerationOptions, runtime: str) -> dict:
    """How the generation columns were obtained (nothing for tasks that do not generate)."""
    if data.task != "causal_lm":
        return {}
    if gen is None:
        return {"generation": f"not measured: no key/value-cache decoder for this {runtime} "
                "model (see weightlight.measure.generation.DecoderRuntime)"}  # fmt: skip
    how = GENERATION_METHOD.format(
        prompt=gen.prompt_tokens, new=gen.new_tokens, warmup=gen.warmup, runs=gen.runs,
        threads=gen.threads,
    )  # fmt: skip
    return {"generation": how, "generation_memory": gen.peak_memory_method or "not measured"}


def _samples(loader) -> int | None:
    """Samples behind a loader (None for an iterable dataset without a length)."""
    try:
        return len(loader.dataset)
    except TypeError:
        return None


def _check_runs(runnable: Runnable, data: Data) -> None:
    """Fail early, with the shapes in the message, if the model rejects the example input."""
    try:
        runnable.run(data.example_batch(1))
    except UserError:
        raise
    except (RuntimeError, ValueError, TypeError) as exc:
        raise UserError(
            f"the model cannot run on the data's input {batches.describe(data.example_input)} "
            f"({(str(exc).splitlines() or [type(exc).__name__])[0][:160]})",
            "use data with the input shape and dtype the model was built for",
        ) from None


def _check_batch(runnable: Runnable, data: Data, batch_size: int) -> None:
    """Fail early if the model runs at batch 1 but not at the largest batch it will be given
    (timed or scored): a program traced at a fixed batch, e.g. a `.pt2` exported from one
    sample."""
    if batch_size == 1:
        return
    try:
        runnable.run(data.example_batch(batch_size))
    except UserError:
        raise
    except (RuntimeError, ValueError, TypeError, AssertionError) as exc:
        raise UserError(
            f"the model runs at batch size 1 but not at {batch_size} "
            f"({(str(exc).splitlines() or [type(exc).__name__])[0][:120]})",
            "it was exported with a fixed batch: re-export it with a dynamic batch dimension "
            "(torch.export's dynamic_shapes; wl.models.save_model writes .pt2 files that way)",
        ) from None


make_callable(__name__, measure)
