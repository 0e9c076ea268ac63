"""torch.ao FX graph-mode plumbing shared by static int8 and QAT.

Why FX (torch.ao) first and PT2E (torchao, `_pt2e.py`) only where FX cannot trace: measured
on x86 CPUs (docs/quantization.md), an FX-converted model runs int8 kernels (fbgemm/oneDNN
via the x86 backend; QNNPACK on ARM64, chosen by `weightlight.hardware`) in plain eager mode
and is faster than fp32, while a PT2E model is slower than fp32 until lowered and torchao
int8 configs gave no CPU speed-up. torch.ao is deprecated but still works in torch 2.13; its
deprecation warnings are silenced here, in one place.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import Iterator

import torch
from torch import nn
from torch.ao.quantization import FakeQuantize, QConfig, QConfigMapping
from torch.ao.quantization.backend_config import get_qnnpack_backend_config
from torch.ao.quantization.backend_config.x86 import get_x86_backend_config
from torch.ao.quantization.observer import (
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    PerChannelMinMaxObserver,
)

from weightlight.batch import Inputs
from weightlight.hardware import quant_settings
from weightlight.quantize import affine
from weightlight.quantize._capture import CaptureError, first_line
from weightlight.quantize.observer import RangeObserver


def backend():
    """The backend config of this CPU's int8 kernels: x86 (fbgemm/oneDNN) or QNNPACK (ARM64)."""
    name = quant_settings().torch_backend
    # The engine that runs the converted model must match the config it was converted for.
    if name in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = name
    return _backend_config(name)


@functools.cache
def _backend_config(name: str):
    import torch.ao.quantization.quantize_fx  # noqa: F401  (loads the backend_config utils)

    return get_qnnpack_backend_config() if name == "qnnpack" else get_x86_backend_config()


def settings_of(config) -> dict[str, bool]:
    """A config's reduce_range / per_channel, or this CPU's choice where it left them None."""
    settings = quant_settings()
    rr, pc = config.reduce_range, config.per_channel
    return {
        "reduce_range": settings.reduce_range if rr is None else rr,
        "per_channel": settings.torch_per_channel if pc is None else pc,
    }


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence torch.ao's deprecation and 'uncalibrated observer' warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"torch\.ao")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
        yield


def qconfig_mapping(
    *,
    weight_bits: int,
    per_channel: bool,
    exclude: tuple[str, ...],
    exclude_types: tuple[type, ...],
    reduce_range: bool,
    calibration: str = "minmax",
    qat: bool = False,
) -> QConfigMapping:
    """uint8 asymmetric activations + signed symmetric weights (the x86 U8S8 kernels).

    `reduce_range` keeps activations to 7 bits (0..127), so u8*s8 pairs cannot saturate the
    int16 sums of x86 CPUs without VNNI (see `weightlight.hardware`; `settings_of` picks it).
    Weights narrower than 8 bits use a smaller integer range inside int8 storage.
    """
    act_max = 127 if reduce_range else 255
    wmin, wmax = affine.qrange(weight_bits, signed=True)
    if per_channel:
        w_observer = MovingAveragePerChannelMinMaxObserver if qat else PerChannelMinMaxObserver
        w_args = {"qscheme": torch.per_channel_symmetric, "ch_axis": 0}
    else:
        w_observer = MovingAverageMinMaxObserver if qat else MinMaxObserver
        w_args = {"qscheme": torch.per_tensor_symmetric}
    w_args |= {"dtype": torch.qint8, "quant_min": wmin, "quant_max": wmax}
    if qat:
        # Fake quantization runs every training step; observers must be cheap here.
        act = FakeQuantize.with_args(
            observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=act_max, dtype=torch.quint8
        )
        weight = FakeQuantize.with_args(observer=w_observer, **w_args)
    else:
        act = RangeObserver.with_args(
            method=calibration, dtype=torch.quint8, quant_min=0, quant_max=act_max
        )
        weight = w_observer.with_args(**w_args)
    mapping = QConfigMapping().set_global(QConfig(activation=act, weight=weight))
    # Token embeddings read integer ids: an activation qconfig would quantize the ids.
    mapping.set_object_type(nn.Embedding, None)
    for cls in exclude_types:
        mapping.set_object_type(cls, None)
    for name in exclude:
        mapping.set_module_name(name, None)
    return mapping


def prepare(
    model: nn.Module, mapping: QConfigMapping, example: Inputs, *, qat: bool = False
) -> nn.Module:
    """Trace `model` with torch.fx and insert observers (or fake quantizers for QAT).

    `example` is one batch's inputs: a tensor, a tuple, or a dict (a tokenizer's batch),
    whose values are passed in the order of `forward()`'s parameters, as FX takes them.
    Raises CaptureError when FX cannot trace the model: Hugging Face transformers do not
    trace (their masks and caches are Python control flow on tensors); the caller decides
    what comes next (static int8 tries torch.export, QAT refuses).
    """
    from torch.ao.quantization.quantize_fx import prepare_fx, prepare_qat_fx

    fn = prepare_qat_fx if qat else prepare_fx
    try:
        with quiet():
            return fn(
                model.train() if qat else model.eval(),
                _token_safe(mapping) if isinstance(example, dict) else mapping,
                _positional(model, example),
                backend_config=backend(),
            )
    except Exception as exc:  # whatever FX raises means the same: it cannot trace this model
        raise CaptureError("torch.fx", first_line(exc)) from None


def _token_safe(mapping: QConfigMapping) -> QConfigMapping:
    """The mapping with its global qconfig given to weighted layers (and ReLU, so they still
    fuse) only: FX cannot see that a dict batch's ids and masks are integers, and would put a
    quantize on them wherever a global qconfig reaches an op they feed."""
    safe = QConfigMapping()
    qconfig = mapping.global_qconfig
    for kind in (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ReLU, nn.functional.relu, torch.relu):
        safe.set_object_type(kind, mapping.object_type_qconfigs.get(kind, qconfig))
    for name, value in mapping.module_name_qconfigs.items():
        safe.set_module_name(name, value)
    return safe


def _positional(model: nn.Module, example: Inputs) -> tuple:
    """FX's example_inputs (positional only): a dict batch in `forward()`'s parameter order."""
    if isinstance(example, tuple):
        return example
    if not isinstance(example, dict):
        return (example,)
    names = list(inspect.signature(model.forward).parameters)
    place = {k: names.index(k) if k in names else len(names) for k in example}
    return tuple(example[k] for k in sorted(example, key=place.__getitem__))


def convert(prepared: nn.Module) -> nn.Module:
    """Replace observed float ops with int8 kernels (eval mode)."""
    from torch.ao.quantization.quantize_fx import convert_fx

    try:
        with quiet():
            return convert_fx(prepared.eval(), backend_config=backend())
    except Exception as exc:
        raise CaptureError("torch.ao convert_fx", first_line(exc)) from None
