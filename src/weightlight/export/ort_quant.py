"""ONNX Runtime int8: static QDQ (calibrated on `data.calib`) and dynamic quantization.

`quantize_onnx(onnx_model, data, path, config)` dispatches on the config's type to one
handler each (registered with `@handles`), so a new method never touches the verb.

Choices that matter (left at None, they come from `weightlight.hardware.quant_settings()`):
- Static on x86: uint8 activations with int8 weights (U8S8); S8S8 measured 3-4x slower on
  ResNet (docs/onnx.md, benchmarks/bench_onnx.py), because ORT's x86 int8 GEMMs are built for U8S8.
- reduce_range (7-bit weights) on x86 CPUs without VNNI, where U8S8 pairs saturate int16.
- Dynamic: ORT has no fast dynamic int8 Conv (ConvInteger), so Conv layers stay fp32 and the
  result says so; CNNs should use static quantization.
- `quant_pre_process` (shape inference + basic optimization) fails on some exported
  transformers and leaves temporary files: it runs in a temporary folder, and on failure the
  model is quantized without it and the result carries a note.
- Static int8 needs every activation's type: ONNX's shape inference cannot see through ORT's
  fused contrib ops (Attention, SkipLayerNormalization), and the quantizer then skips the
  untyped activations but still quantizes the bias of the Gemm they feed, with the scale of
  an input it never quantized (a BERT classifier's pooler -> classifier crashed so). The
  untyped tensors get their types from one ORT run of a calibration batch (`_typed`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from weightlight._io import atomic_path
from weightlight._lazy import lazy_import
from weightlight._registry import Registry
from weightlight._third_party import third_party
from weightlight.config import Config
from weightlight.data import Data
from weightlight.errors import UserError, one_line
from weightlight.export._quiet import quiet
from weightlight.export.ort import OrtModel, check_onnx
from weightlight.hardware import quant_settings

onnx = lazy_import("onnx")  # ~1.2 s to import: only when a graph is touched

# Output of int8 vs fp32 is expected to differ; this only flags a broken quantization.
FIDELITY_TOLERANCE = 0.25


class OrtStaticInt8(Config):
    """Static int8 in QDQ format: weights and activations, ranges calibrated on `data.calib`.

    Example (YAML): `{method: ort_static_int8, calibration: percentile, per_channel: true}`
    """

    method: Literal["ort_static_int8"] = "ort_static_int8"
    calibration: Literal["minmax", "percentile", "entropy"] = Field(
        "minmax", description="How activation ranges are chosen from the calibration batches."
    )
    percentile: float = Field(
        99.999, gt=90, lt=100, description="Kept share of |activations| for 'percentile'."
    )
    per_channel: bool = Field(True, description="One weight scale per output channel.")
    exclude_nodes: tuple[str, ...] = Field((), description="ONNX node names kept in fp32.")
    activations: Literal["uint8", "int8"] | None = Field(
        None, description="Activation type; None: this CPU's (uint8, U8S8, on x86)."
    )
    calib_batches: int = Field(8, ge=1, le=10_000, description="Batches of data.calib used.")
    reduce_range: bool | None = Field(
        None, description="7-bit weights (x86 without VNNI); None: this CPU's choice."
    )
    preprocess: bool = Field(True, description="Run ORT's quant_pre_process first.")


class OrtDynamicInt8(Config):
    """Dynamic int8: int8 weights, activation ranges computed at run time (MatMul-heavy models).

    Example (YAML): `{method: ort_dynamic_int8, per_channel: true}`
    """

    method: Literal["ort_dynamic_int8"] = "ort_dynamic_int8"
    per_channel: bool = Field(True, description="One weight scale per output channel.")
    exclude_nodes: tuple[str, ...] = Field((), description="ONNX node names kept in fp32.")
    weights: Literal["int8", "uint8"] = Field("int8", description="Weight integer type.")
    reduce_range: bool | None = Field(
        None, description="7-bit weights (x86 without VNNI); None: this CPU's choice."
    )
    preprocess: bool = Field(True, description="Run ORT's quant_pre_process first.")


OrtQuantConfig = OrtStaticInt8 | OrtDynamicInt8
Handler = Callable[[Path, Path, Data, "OrtQuantConfig", str], tuple[str, ...]]
HANDLERS: Registry[Handler] = Registry(
    "int8 config for ONNX Runtime", "pass one of wl.export.{{{names}}}"
)
handles = HANDLERS.register  # `@handles(Config)`: the function that quantizes for that type


def quantize_onnx(
    onnx_model: OrtModel,
    data: Data,
    path: str | Path,
    config: OrtQuantConfig | None = None,
) -> OrtModel:
    """Quantize an ONNX model to int8 with ONNX Runtime; checks the file and its fidelity.

    Args:
        onnx_model: the fp32 model (its portable `.path`, not the ORT-optimized file).
        data: `data.calib` feeds static calibration; `data.eval` the fidelity check.
        path: where the int8 `.onnx` is written (atomically).
        config: `OrtStaticInt8()` (default, right for CNNs) or `OrtDynamicInt8()`.

    Returns:
        The int8 model; `.parity` compares it with `onnx_model` (cosine, top-1 agreement)
        and `.notes` records any fallback taken.

    Example:
        >>> q = wl.export.quantize_onnx(onnx_model, data, "out/model.int8.onnx",
        ...                             wl.export.OrtStaticInt8(calibration="percentile"))
        >>> q.parity.top1_agreement > 99
        True
    """
    from weightlight.export.parity import parity

    config = config or OrtStaticInt8()
    HANDLERS.lookup(config)  # an unknown config type fails before any work
    path = Path(path)
    if path.suffix != ".onnx":
        raise UserError(f"int8 output path '{path}' must end in .onnx", "e.g. model.int8.onnx")
    # Absolute: pre-processing runs inside a temporary working directory (it drops files there).
    source = Path(onnx_model.path).resolve()
    _check_node_names(source, config.exclude_nodes)
    stage = f"ONNX Runtime int8 ({config.method.removeprefix('ort_')})"
    fix = "use OrtDynamicInt8, or keep the failing node in fp32 (exclude_nodes)"
    with (
        third_party(stage, fix),
        tempfile.TemporaryDirectory(prefix="wl-ortq-") as tmp,
        atomic_path(path) as out,
    ):
        prepared, notes = preprocess(source, Path(tmp), config)
        if isinstance(config, OrtStaticInt8):
            with contextlib.suppress(Exception):  # untyped tensors stay so: the error below
                prepared = _typed(prepared, Path(tmp), data)
        try:
            notes += quantize_file(prepared, out, data, config, _input_name(source))
        except UserError:
            raise
        except Exception as exc:  # ORT's quantizer: one line naming the node it failed on
            raise _quantizer_error(exc, prepared, config) from None
        check_onnx(out)
    # the source's own class: a key/value-cache decoder stays one (fed and generated as such)
    result = type(onnx_model)(path, optimize=onnx_model.optimize, threads=onnx_model.threads,
                              notes=tuple(notes))  # fmt: skip
    report = parity(onnx_model, result, data, tolerance=FIDELITY_TOLERANCE)
    if not report.ok:
        notes += (f"int8 output far from fp32 (max rel error {report.max_rel:.2f})",)
    return result.with_info(parity=report, notes=tuple(notes))


def quantize_file(
    src: Path, out: Path, data: Data, config: OrtQuantConfig, input_name: str | None = None
) -> tuple[str, ...]:
    """Quantize the ONNX file `src` into `out` with the config's handler (ORT kept quiet),
    without checks or parity: `quantize_onnx` is the checked verb. Returns the notes."""
    with quiet():
        return HANDLERS.lookup(config)(src, out, data, config, input_name or _input_name(src))


@handles(OrtStaticInt8)
def _static(src: Path, out: Path, data: Data, config: OrtStaticInt8, input_name: str):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    settings = quant_settings()
    activations = config.activations or settings.ort_activations
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    quantize_static(
        str(src),
        str(out),
        CalibrationReader(data, input_name, config.calib_batches, src),
        quant_format=QuantFormat.QDQ,
        per_channel=config.per_channel,
        reduce_range=_reduce_range(config),
        activation_type=QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=list(config.exclude_nodes),
        calibrate_method=methods[config.calibration],
        extra_options={
            "CalibPercentile": config.percentile,
            # Fused transformer graphs hold contrib ops whose output types ORT cannot infer.
            "DefaultTensorType": onnx.TensorProto.FLOAT,
        },
    )
    return ()


@handles(OrtDynamicInt8)
def _dynamic(src: Path, out: Path, data: Data, config: OrtDynamicInt8, input_name: str):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    op_types = [op for op in IntegerOpsRegistry if op != "Conv"]
    present = {n.op_type for n in onnx.load(str(src)).graph.node}
    notes: tuple[str, ...] = ()
    if "Conv" in present:
        notes += (
            "dynamic int8 keeps Conv layers in fp32 (ORT has no fast dynamic int8 Conv); "
            "use static int8 (OrtStaticInt8) for CNNs",
        )
    quantize_dynamic(
        str(src),
        str(out),
        op_types_to_quantize=op_types,
        per_channel=config.per_channel,
        reduce_range=_reduce_range(config),
        weight_type=QuantType.QInt8 if config.weights == "int8" else QuantType.QUInt8,
        nodes_to_exclude=list(config.exclude_nodes),
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    quantized = {n.op_type for n in onnx.load(str(out)).graph.node} - present
    if not quantized:
        notes += ("dynamic int8 found nothing to quantize: the model is unchanged",)
    return notes


def _typed(src: Path, tmp: Path, data: Data) -> Path:
    """`src` with a type for every tensor: ONNX's shape inference where it reaches, and for
    the outputs of ops it does not know (ORT's contrib ops and what follows them) the dtype
    they have when ORT runs one calibration batch. `src` itself when nothing is untyped."""
    import onnxruntime as ort

    from weightlight.batch import split

    model = onnx.shape_inference.infer_shapes(onnx.load(str(src)))
    graph = model.graph
    known = {v.name for v in (*graph.value_info, *graph.input, *graph.output)}
    known |= {t.name for t in graph.initializer}
    untyped = [o for n in graph.node for o in n.output if o and o not in known]
    if not untyped:
        return src
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in untyped:  # ORT runs outputs declared without a type, and reports theirs
        probe.graph.output.append(onnx.ValueInfoProto(name=name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    feeds = OrtModel(src, optimize="none").feeds(split(next(iter(data.calib)))[0])
    for name, value in zip(untyped, session.run(untyped, feeds), strict=True):
        elem = onnx.helper.np_dtype_to_tensor_dtype(np.asarray(value).dtype)
        graph.value_info.append(onnx.helper.make_tensor_value_info(name, elem, None))
    out = tmp / "typed.onnx"
    onnx.save(model, str(out))
    return out


def _quantizer_error(exc: Exception, model: Path, config) -> UserError:
    """ORT's quantizer failure as one line: its message, and the node it names (directly,
    or through a tensor that node consumes)."""
    message = one_line(str(exc))[:200]
    nodes = onnx.load(str(model)).graph.node
    named = {n.name for n in nodes}
    consumers = {i: n.name for n in reversed(nodes) for i in n.input}
    node = None
    for quoted in re.findall(r"'([^']+)'", str(exc)):
        node = quoted if quoted in named else consumers.get(quoted)
        if node:
            break
    where = f" at node '{node}'" if node else ""
    keep = f"exclude_nodes=['{node}']" if node else "exclude_nodes=[...]"
    return UserError(
        f"ONNX Runtime {config.method} failed{where} ({type(exc).__name__}: {message})",
        f"keep that node in fp32 ({keep}), or quantize with dynamic int8",
    )


class CalibrationReader:
    """Feeds `data.calib` batches to ORT's calibrator (the CalibrationDataReader protocol)."""

    def __init__(self, data: Data, input_name: str, batches: int, model_path: Path) -> None:
        from weightlight.batch import split
        from weightlight.export.ort import OrtModel

        # The same by-name / by-position feeding as running the model (every graph input).
        feeder = OrtModel(model_path, optimize="none")
        self._batches: list[dict[str, np.ndarray]] = []
        for i, b in enumerate(data.calib):
            if i >= batches:
                break
            self._batches.append(feeder.feeds(split(b)[0]))
        self._iter: Iterator = iter(self._batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self._batches)


def preprocess(src: Path, tmp: Path, config) -> tuple[Path, tuple[str, ...]]:
    """ORT's quant_pre_process (shape inference + optimization), or the source on failure."""
    if not config.preprocess:
        return src, ()
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = tmp / "preprocessed.onnx"
    try:
        # It writes scratch files into the current directory on some paths: keep them in tmp.
        with _working_directory(tmp), quiet():
            quant_pre_process(str(src), str(out))
        check_onnx(out)
    except Exception as exc:
        return src, (
            f"quant_pre_process failed ({one_line(str(exc))[:120]}); quantized without it",
        )
    names = {n.name for n in onnx.load(str(out)).graph.node}
    lost = [n for n in config.exclude_nodes if n not in names]
    if lost:  # pre-processing renamed/fused an excluded node: keep the exclusion exact
        return src, (f"quant_pre_process skipped: it would remove excluded nodes {lost}",)
    return out, ()


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    # Process-wide, so not thread-safe; quantization is not run concurrently in one process.
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _check_node_names(src: Path, names: tuple[str, ...]) -> None:
    """Every excluded node must exist, so a typo fails before anything is written."""
    if not names:
        return
    known = [n.name for n in onnx.load(str(src)).graph.node]
    missing = [n for n in names if n not in set(known)]
    if missing:
        sample = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "")
        raise UserError(
            f"exclude_nodes names {missing} are not nodes of '{src.name}'",
            f"use ONNX node names, e.g. {sample}",
        )


def _reduce_range(config: OrtQuantConfig) -> bool:
    """The config's reduce_range, or this CPU's choice (on exactly where U8S8 can saturate)."""
    return quant_settings().reduce_range if config.reduce_range is None else config.reduce_range


def _input_name(src: Path) -> str:
    return onnx.load(str(src)).graph.input[0].name
