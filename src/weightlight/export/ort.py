"""An ONNX file run by ONNX Runtime, as a model `weightlight.measure` can measure.

`OrtModel` wraps one `.onnx` file and an `InferenceSession` built lazily with the chosen graph
optimization level and thread count. It is registered with `as_runnable`, so
`wl.measure(OrtModel(...), data)` reports runtime "onnxruntime", the file's size, latency,
accuracy, MACs counted from the graph and peak memory measured like every runtime's
(`weightlight.measure.memory`).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from weightlight import batch as batches
from weightlight._lazy import lazy_import
from weightlight.errors import UserError, one_line
from weightlight.measure.runnable import as_runnable
from weightlight.models.io import FILE_LOADERS

onnx = lazy_import("onnx")  # ~1.2 s to import: only when a graph is touched

OPTIMIZE_LEVELS = ("none", "basic", "extended", "all")
# Graphs that need their own OrtModel class, told apart by their input names: the module that
# defines the class registers it here (export.ort_decoder: the key/value-cache decoder), so this
# module imports none of them.
GRAPH_KINDS: list[tuple[Callable[[list[str]], bool], type]] = []
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def check_onnx(path: str | Path) -> None:
    """Run `onnx.checker.check_model(full_check=True)`; a bad file becomes a one-line UserError.

    The full check includes strict shape inference, which catches e.g. an output name that
    collides with an internal value name (a file ORT would otherwise reject at load).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"ONNX file '{path}' does not exist", "check the path")
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # checker, protobuf decode and shape-inference errors alike
        raise UserError(
            f"'{path}' is not a valid ONNX model ({type(exc).__name__}: "
            f"{one_line(str(exc))[:160]})",
            "the file is truncated or corrupt: re-export it",
        ) from None


def load_onnx(path: str | Path, *, optimize: str = "all") -> OrtModel:
    """Check an ONNX file, then wrap it for ONNX Runtime (`models.load_model` calls this).

    Example:
        >>> m = load_onnx("out/model.onnx")
        >>> m.run(torch.zeros(1, 1, 28, 28)).shape
        torch.Size([1, 10])
    """
    check_onnx(path)
    names = [i.name for i in onnx.load(str(path), load_external_data=False).graph.input]
    for takes, model_class in GRAPH_KINDS:
        if takes(names):  # e.g. a decoder with its key/value cache (a resumed run reloads it)
            return model_class(Path(path), optimize=optimize)
    return OrtModel(path, optimize=optimize)


FILE_LOADERS.register(".onnx")(load_onnx)  # so models.load_model reads .onnx files


@dataclasses.dataclass(frozen=True, eq=False)
class OrtModel:
    """One ONNX file executed by ONNX Runtime on CPU.

    Attributes:
        path: the `.onnx` file (the deployable artifact, measured for size).
        optimize: ORT graph optimization level used by the session: none/basic/extended/all.
        exporter: "dynamo" or "legacy" when weightlight exported the file, else None.
        parity: the `ParityReport` against the source torch model, when one was run.
        optimized_path: the graph as ORT optimized it, when saved (`save_optimized`).
        fusions: fused operator counts from ORT's transformer optimizer, when applied.
        notes: plain-language warnings about this model (parity, skipped layers ...).
        threads: intra-op threads (None: ORT's default, all cores).
    """

    path: Path
    optimize: str = "all"
    exporter: str | None = None
    parity: object | None = None
    optimized_path: Path | None = None
    fusions: dict[str, int] | None = None
    notes: tuple[str, ...] = ()
    threads: int | None = None
    runtime = "onnxruntime"
    device = "cpu"  # ORT's CPU execution provider

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.optimize not in OPTIMIZE_LEVELS:
            raise UserError(
                f"unknown optimization level '{self.optimize}'",
                f"use one of {', '.join(OPTIMIZE_LEVELS)}",
            )
        object.__setattr__(self, "_session", None)

    @property
    def method_notes(self) -> dict[str, str]:
        """Which tools count this runtime's figures (the figures' definitions are shared)."""
        return {
            "counted_by": "params: ONNX initializers; MACs: the ONNX graph's nodes after shape "
            "inference (weightlight.export.onnx_macs)",
        }

    def with_info(self, **changes) -> OrtModel:
        """A copy with some attributes replaced (its session is rebuilt on first use)."""
        return dataclasses.replace(self, **changes)

    # --- the session -------------------------------------------------------------------
    def session_options(self, optimized_model_filepath: Path | None = None):
        import onnxruntime as ort

        levels = {
            "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        opts = ort.SessionOptions()
        opts.graph_optimization_level = levels[self.optimize]
        opts.log_severity_level = 3  # errors only: the library does not print
        opts.inter_op_num_threads = 1
        if self.threads:
            opts.intra_op_num_threads = self.threads
        # Spinning worker threads keep burning the cores after a run and slow whatever runs
        # next in this process (torch, another session) about 2x: measure with it off.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if optimized_model_filepath is not None:
            opts.optimized_model_filepath = str(optimized_model_filepath)
        return opts

    def new_session(self, optimized_model_filepath: Path | None = None):
        """A fresh `InferenceSession` (the cached one is `self.session`)."""
        import onnxruntime as ort

        try:
            return ort.InferenceSession(
                str(self.path),
                self.session_options(optimized_model_filepath),
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:
            raise UserError(
                f"ONNX Runtime cannot load '{self.path}' ({one_line(str(exc))[:200]})",
                "re-export the model, or check it with onnx.checker",
            ) from None

    @property
    def session(self):
        if self._session is None:
            session = self.new_session()
            # Read once: the binding call costs microseconds, which shows at batch 1.
            metas = [
                (m.name, m.shape, _ORT_DTYPES.get(m.type, np.float32)) for m in session.get_inputs()
            ]
            object.__setattr__(self, "_inputs", metas)
            object.__setattr__(self, "_session", session)
        return self._session

    def save_optimized(self, path: str | Path | None = None) -> OrtModel:
        """Write the graph as ORT optimizes it at this level; returns a copy that records it.

        At "all" the file may hold layout transforms specific to this CPU: keep `path` as the
        portable artifact and use the optimized file only on the machine that made it.
        """
        target = Path(path) if path else self.path.with_suffix(f".{self.optimize}.onnx")
        self.new_session(optimized_model_filepath=target)
        return self.with_info(optimized_path=target)

    # --- the Runnable protocol ---------------------------------------------------------
    def feeds(self, inputs: batches.Inputs) -> dict[str, np.ndarray]:
        """The session's input arrays for a batch: a dict by name, a tuple / tensor by position.

        Every graph input must be fed (an attention mask is a real input, not a constant);
        a dict batch carrying a name the graph does not take is a mismatch, said in one line.
        """
        self.session  # noqa: B018 (reads the graph's inputs once)
        given = batches.tensors(inputs)
        graph = self._inputs
        if isinstance(inputs, dict):
            by_name = dict(given)
            names = [n for n, _, _ in graph]
            extra, missing = (
                [k for k in by_name if k not in names],
                [n for n in names if n not in by_name],
            )
            if extra or missing:
                raise UserError(
                    f"'{self.path.name}' takes inputs {', '.join(names)}; the batch has "
                    f"{', '.join(by_name)}",
                    "feed the inputs the model was exported with (same names)",
                )
            ordered = [by_name[n] for n in names]
        else:
            if len(given) != len(graph):
                raise UserError(
                    f"'{self.path.name}' takes {len(graph)} input(s) "
                    f"({', '.join(n for n, _, _ in graph)}); the batch has {len(given)}",
                    "pass a dict batch keyed by the graph's input names",
                )
            ordered = [t for _, t in given]
        arrays = {}
        for (name, shape, dtype), tensor in zip(graph, ordered, strict=True):
            _check_shape(shape, tuple(tensor.shape), self.path)
            arrays[name] = tensor.detach().cpu().numpy().astype(dtype, copy=False)
        return arrays

    def run(self, inputs: batches.Inputs) -> torch.Tensor:
        """Run a batch (tensor, tuple or dict); returns the first output as float32 torch."""
        feeds = self.feeds(inputs)
        try:
            out = self.session.run(None, feeds)[0]
        except Exception as exc:
            raise UserError(
                f"ONNX Runtime failed on inputs of {batches.describe(inputs)} "
                f"({one_line(str(exc))[:160]})",
                "pass inputs with the shape the model was exported for",
            ) from None
        return torch.from_numpy(np.asarray(out)).float()

    def param_counts(self) -> tuple[int, int]:
        """(total, non-zero) elements of the graph's initializers (int8 weights included)."""
        total = nonzero = 0
        for init in onnx.load(str(self.path)).graph.initializer:
            values = onnx.numpy_helper.to_array(init)
            total += values.size
            nonzero += int(np.count_nonzero(values))
        return total, nonzero

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / "model.onnx"
        if target.resolve() != self.path.resolve():
            shutil.copyfile(self.path, target)
        return target

    def macs(self, inputs: batches.Inputs) -> int | None:
        from weightlight.export.onnx_macs import count_onnx_macs

        return count_onnx_macs(self.path, {k: v.shape for k, v in self.feeds(inputs).items()})

    def peak_memory(self, inputs: batches.Inputs) -> tuple[int | None, str]:
        """Peak RSS of a forked child that opens a new session on this file and runs a batch.

        The same method as torch models (`weightlight.measure.memory`), so one column means
        one thing.
        """
        import onnxruntime  # noqa: F401  imported here, so the child does not count the import

        from weightlight.measure.memory import forked_peak

        single = self.with_info(threads=1)
        feeds = self.feeds(inputs)

        def build_and_run():
            session = single.new_session()
            return session, session.run(None, feeds)

        return forked_peak(build_and_run, batch=batches.size(inputs))

    def set_threads(self, threads: int) -> None:
        if threads != self.threads:
            object.__setattr__(self, "threads", threads)
            object.__setattr__(self, "_session", None)


as_runnable.register(OrtModel, lambda model, adapter=None: model)  # the graph holds the choice


def _check_shape(expected: list, got: tuple[int, ...], path: Path) -> None:
    """Reject a wrong input shape with the model's shape in the message (ORT's own error is
    a multi-line C++ message)."""
    fixed = [d if isinstance(d, int) else None for d in expected]
    if len(fixed) != len(got) or any(
        e is not None and e != g for e, g in zip(fixed, got, strict=False)
    ):
        shown = tuple(d if d is not None else "N" for d in fixed)
        raise UserError(
            f"'{path.name}' takes inputs of shape {shown}, got {got}",
            "pass data with the input shape the model was exported for",
        )
