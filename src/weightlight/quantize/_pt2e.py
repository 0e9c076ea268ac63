"""PT2E static int8 (torchao's `prepare_pt2e` / `convert_pt2e` + the x86 quantizer), for the
models torch.fx cannot trace but `torch.export` can capture: Hugging Face transformers and
vision models, whose masks, caches and output classes are Python that FX cannot follow.

Why not for every model: a converted PT2E graph runs quantize -> dequantize -> fp32 ops in
eager, so it is slower than fp32 until a compiler lowers it (docs/quantization.md has the
figures); FX's int8 modules are faster in plain eager, so FX stays first (`static.py`).

The converted graph is made saveable: every activation scale / zero point, which
`convert_pt2e` writes into the graph as Python numbers, is lifted into a buffer, so the
state_dict holds the whole quantized model and `load_quantized` can pour it into the same
graph rebuilt without data.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import warnings

import torch
from torch import nn

from weightlight import batch as batches
from weightlight.batch import Inputs
from weightlight.quantize import affine
from weightlight.quantize._capture import CaptureError, first_line
from weightlight.quantize.observer import range_observer_for


def available() -> bool:
    """Whether torchao (the `[ao]` extra) is installed."""
    return importlib.util.find_spec("torchao") is not None


@functools.cache
def _torchao():
    # torchao logs CUDA-library load failures and torch logs a deprecation on import:
    # neither concerns a CPU user, and library code does not print.
    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torchao.quantization.pt2e as pt2e
        import torchao.quantization.pt2e.quantize_pt2e as api
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    return pt2e, api, xiq


def capture(model: nn.Module, example: Inputs) -> torch.fx.GraphModule:
    """`torch.export` of `model` (eval) on `example`, every input dimension left dynamic
    where the model allows it (batch size and sequence length vary between batches).

    A dict batch is passed as keyword arguments, as a tokenizer's batch is. A dimension of
    size 1 would be specialized by export, so a one-sample example is repeated to two.
    """
    if batches.size(example) < 2:
        example = batches.repeat(example, 2)
    named = batches.tensors(example)
    dims = [{i: torch.export.Dim.AUTO for i in range(t.dim())} for _, t in named]
    if isinstance(example, dict):
        args, kwargs, dynamic = (), dict(example), dict(zip(example, dims, strict=True))
    else:
        args = tuple(example) if isinstance(example, (tuple, list)) else (example,)
        kwargs, dynamic = {}, tuple(dims)
    _conv1d_as_linear(model)
    config = getattr(model, "config", None)
    if getattr(config, "use_cache", False):
        # A key/value cache is an output export cannot return; static int8 scores whole
        # sequences, so the copy being quantized computes without one.
        config.use_cache = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(
                model.eval(), args, kwargs, dynamic_shapes=dynamic, strict=False
            )
        return program.module()
    except Exception as exc:  # any failure of the capture is the same answer for the user
        raise CaptureError("torch.export", first_line(exc)) from None


def _conv1d_as_linear(model: nn.Module) -> None:
    """Swap transformers' `Conv1D` (GPT-2's projections: `addmm` with a [in, out] weight) for
    the `nn.Linear` it computes, in place on the copy being quantized: the x86 quantizer
    quantizes `linear` only, so GPT-2 would otherwise keep all but its LM head in fp32."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__ != "Conv1D" or not hasattr(child, "nf"):
                continue
            if not type(child).__module__.startswith("transformers."):
                continue
            linear = nn.Linear(child.weight.shape[0], child.nf, bias=child.bias is not None)
            with torch.no_grad():
                linear.weight.copy_(child.weight.t())
                if child.bias is not None:
                    linear.bias.copy_(child.bias)
            setattr(parent, name, linear)


def quantizer(
    *,
    calibration: str,
    weight_bits: int,
    per_channel: bool,
    reduce_range: bool,
    exclude: tuple[str, ...],
):
    """The x86 quantizer with our calibration observer and weight grid: uint8 activations
    (7-bit with `reduce_range`), signed symmetric int8 weights, as the FX path uses."""
    pt2e, _, xiq = _torchao()
    from torchao.quantization.pt2e.quantizer import QuantizationConfig, QuantizationSpec

    wmin, wmax = affine.qrange(weight_bits, signed=True)
    observer = range_observer_for(pt2e.MinMaxObserver)
    act = QuantizationSpec(
        dtype=torch.uint8, quant_min=0, quant_max=127 if reduce_range else 255,
        qscheme=torch.per_tensor_affine, is_dynamic=False,
        observer_or_fake_quant_ctr=observer.with_args(method=calibration, eps=2**-12),
    )  # fmt: skip
    weight = QuantizationSpec(
        dtype=torch.int8, quant_min=wmin, quant_max=wmax,
        qscheme=torch.per_channel_symmetric if per_channel else torch.per_tensor_symmetric,
        ch_axis=0, is_dynamic=False,
        observer_or_fake_quant_ctr=(
            pt2e.PerChannelMinMaxObserver if per_channel else pt2e.MinMaxObserver
        ).with_args(eps=2**-12),
    )  # fmt: skip
    config = QuantizationConfig(act, act, weight, None, False)
    result = _FloatOnly(xiq.X86InductorQuantizer)().set_global(config)
    for name in exclude:
        result.set_module_name_qconfig(name, None)
    return result


@functools.cache
def _FloatOnly(base: type) -> type:  # noqa: N802  (a class factory)
    """The quantizer with its annotations removed from integer tensors: export shows ids,
    masks and positions as ordinary tensors, and an int8 grid over a position id would
    corrupt it (torchao's observers also refuse integer inputs)."""

    def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        base.annotate(self, model)
        for node in model.graph.nodes:
            note = node.meta.get("quantization_annotation")
            if note is None:
                continue
            for edge in [n for n in note.input_qspec_map if not _is_float(n)]:
                del note.input_qspec_map[edge]
            if note.output_qspec is not None and not _is_float(node):
                note.output_qspec = None
        return model

    return type(f"FloatOnly{base.__name__}", (base,), {"annotate": annotate})


def _is_float(node: torch.fx.Node) -> bool:
    value = node.meta.get("val")
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def prepare(graph: torch.fx.GraphModule, quant) -> torch.fx.GraphModule:
    """Insert observers into the captured graph."""
    _, api, _ = _torchao()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return api.prepare_pt2e(graph, quant)
    except Exception as exc:
        raise CaptureError("torchao prepare_pt2e", first_line(exc)) from None


def convert(prepared: torch.fx.GraphModule) -> Int8Graph:
    """The calibrated graph with int8 weights folded in and activation qparams as buffers."""
    _, api, _ = _torchao()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = api.convert_pt2e(prepared)
    except Exception as exc:
        raise CaptureError("torchao convert_pt2e", first_line(exc)) from None
    _drop_unused(converted)
    _lift_qparams(converted)
    return Int8Graph(converted)


def _drop_unused(graph: torch.fx.GraphModule) -> None:
    """Remove the fp32 weights the folded int8 constants replaced: the converted graph no
    longer reads them, but keeps them registered (its state_dict would be larger than fp32)."""
    used = {str(n.target) for n in graph.graph.nodes if n.op == "get_attr"}
    for name in list(graph.state_dict()):
        if name in used or any(name.startswith(f"{u}.") for u in used):
            continue
        owner, _, attr = name.rpartition(".")
        module = graph.get_submodule(owner) if owner else graph
        module._parameters.pop(attr, None)
        module._buffers.pop(attr, None)


def _lift_qparams(graph: torch.fx.GraphModule) -> None:
    """Turn each `quantize/dequantize_per_tensor(x, scale, zp, ...)` with Python numbers into
    its `.tensor` overload reading buffers, so the state_dict carries every scale."""
    ops = torch.ops.quantized_decomposed
    swap = {
        ops.quantize_per_tensor.default: ops.quantize_per_tensor.tensor,
        ops.dequantize_per_tensor.default: ops.dequantize_per_tensor.tensor,
    }
    count = 0
    for node in list(graph.graph.nodes):
        if node.op != "call_function" or node.target not in swap:
            continue
        x, scale, zero_point, *rest = node.args
        names = (f"act_scale_{count}", f"act_zero_point_{count}")
        # float64 keeps the Python float exact: `.tensor` reads it back with `.item()`
        graph.register_buffer(names[0], torch.tensor(float(scale), dtype=torch.float64))
        graph.register_buffer(names[1], torch.tensor(int(zero_point), dtype=torch.int64))
        with graph.graph.inserting_before(node):
            attrs = [graph.graph.get_attr(n) for n in names]
        node.target = swap[node.target]
        node.args = (x, *attrs, *rest)
        count += 1
    graph.graph.lint()
    graph.recompile()


class Int8Graph(nn.Module):
    """A converted PT2E graph as a plain module: called like the float model (a dict batch
    as keyword arguments), `.eval()` / `.train()` allowed (the graph has no mode of its own:
    it was captured in eval mode), saved and reloaded through its state_dict."""

    def __init__(self, graph: torch.fx.GraphModule) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, *args, **kwargs):
        return self.graph(*args, **kwargs)

    def train(self, mode: bool = True) -> Int8Graph:
        self.training = mode  # not passed on: an exported graph refuses train()/eval()
        return self

    def int8_ops(self) -> int:
        """Linear / conv ops computing on int8: their weight is dequantized from an int8
        constant and their input from an int8-quantized activation (0: nothing quantized)."""
        ops = torch.ops.quantized_decomposed
        dequantize = {
            ops.dequantize_per_channel.default,
            ops.dequantize_per_tensor.default,
            ops.dequantize_per_tensor.tensor,
        }

        def dequantized(node) -> bool:
            return isinstance(node, torch.fx.Node) and node.target in dequantize

        aten = torch.ops.aten
        layers = {aten.linear.default, aten.conv1d.default, aten.conv2d.default}
        return sum(
            1
            for n in self.graph.graph.nodes
            if n.target in layers
            and dequantized(n.args[0])
            and dequantized(n.args[1])
            and n.args[1].args[0].op == "get_attr"
        )
