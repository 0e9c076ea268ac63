"""One interface over every runtime, so each variant is measured the same way.

`as_runnable(model, adapter)` wraps an nn.Module (torch eager) here; other runtimes (ONNX
Runtime) register their own wrapper with `as_runnable.register(TheirType)`, so measuring never
grows `isinstance` branches. `run(inputs)` takes a batch in any form (tensor, tuple, dict) and
returns the one tensor the task reads: the adapter says which output and how it is pooled (an
exported graph already holds that choice, so ONNX Runtime ignores it).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from weightlight import batch as batches
from weightlight.adapter import ModelAdapter


class Runnable(Protocol):
    """What `measure` needs from a model, whatever executes it."""

    runtime: str
    device: str  # what executes it: "cpu", "cuda:0" (recorded in the Measurement)

    def run(self, inputs: batches.Inputs) -> torch.Tensor: ...
    def param_counts(self) -> tuple[int, int]: ...  # (total, non-zero)
    def save(self, directory: Path) -> Path: ...  # write the deployable artifact
    def macs(self, inputs: batches.Inputs) -> int | None: ...
    def peak_memory(self, inputs: batches.Inputs) -> tuple[int | None, str]: ...
    def set_threads(self, threads: int) -> None: ...


@functools.singledispatch
def as_runnable(model, adapter: ModelAdapter | None = None) -> Runnable:
    raise TypeError(f"cannot measure a {type(model).__name__}; pass an nn.Module or ONNX model")


@as_runnable.register
def _(model: nn.Module, adapter: ModelAdapter | None = None) -> Runnable:
    return TorchRunnable(model, adapter)


class TorchRunnable:
    """PyTorch eager execution of an nn.Module, in eval mode and without autograd."""

    runtime = "torch"

    def __init__(self, model: nn.Module, adapter: ModelAdapter | None = None) -> None:
        self.model = model.eval()
        self.adapter = adapter or ModelAdapter()
        floats = [p.dtype for p in model.parameters() if p.is_floating_point()]
        # A model cast to bf16/fp16 takes inputs of that dtype; quantized models take fp32.
        self.input_dtype = floats[0] if floats else torch.float32
        # The model runs where its weights are (a model left on a GPU is timed there).
        where = next((t.device for t in (*model.parameters(), *model.buffers())), None)
        self._device = where or torch.device("cpu")
        self.device = str(self._device)

    def _cast(self, inputs: batches.Inputs) -> batches.Inputs:
        """Inputs (any batch form) go to the model's device; float inputs follow its dtype,
        integer inputs (token ids, masks) keep theirs."""
        return batches.cast_floats(batches.to_device(inputs, self._device), self.input_dtype)

    def run(self, inputs: batches.Inputs) -> torch.Tensor:
        with torch.inference_mode():
            out = self.adapter.forward(self.model, self._cast(inputs))
        # Back on the CPU (a no-op there): on a GPU the copy also waits for the kernels, so
        # a timed call includes all of its work, not just the launches.
        return out.float().cpu()

    def param_counts(self) -> tuple[int, int]:
        from weightlight.measure.params import count_params

        return count_params(self.model)

    def save(self, directory: Path) -> Path:
        from weightlight.models.artifact import save_torch_artifact  # the model saves itself

        return save_torch_artifact(self.model, directory)

    def macs(self, inputs: batches.Inputs) -> int | None:
        from weightlight.measure.flops import count_macs

        return count_macs(self.model, self._cast(inputs))

    def peak_memory(self, inputs: batches.Inputs) -> tuple[int | None, str]:
        """Peak RSS of a forked child that deep-copies the model and runs one batch."""
        from weightlight.measure.memory import forked_peak

        batch = self._cast(inputs)

        def build_and_run():
            model = copy.deepcopy(self.model)
            with torch.inference_mode():
                return model, batches.call(model, batch)

        return forked_peak(build_and_run, batch=batches.size(inputs))

    def set_threads(self, threads: int) -> None:
        torch.set_num_threads(threads)
