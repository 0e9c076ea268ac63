"""A few-second probe of what this CPU runs fast: int8, bf16 and fp16 against fp32.

The advisor ranks techniques by the speed-up they would bring, and that speed-up belongs to the
machine, not to a constant: int8 GEMMs gain several times with VNNI and much less without it,
bf16 is faster than fp32 with AVX512-BF16 and several times slower without. So the advisor
times small representative kernels here, once per process (`speed_probe` is cached):

- torch int8 GEMM and conv: `torch.ao.nn.quantized` Linear (64x512 @ 512x512) and Conv2d
  (8x32x28x28, 64 3x3 filters) on already-quantized inputs, as a static int8 model runs them;
- ONNX Runtime int8: a 64x512 @ 512x512 MatMul graph after `quantize_dynamic`, against fp32;
- bf16 and fp16: `torch.matmul` of 256x256 matrices.

Each figure is fp32 time / low-precision time (above 1: faster), medians of calls made
alternately within a fixed time slice, with the threads torch is set to. A kernel that cannot
run here is None.
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from weightlight.export._quiet import quiet

_SLICE_S = 0.4  # per comparison: 5 comparisons -> about 2-3 s in all


@dataclass(frozen=True)
class SpeedProbe:
    """Speed-ups over fp32 measured on this CPU (fp32 time / other time; None: not runnable)."""

    int8_gemm: float | None
    int8_conv: float | None
    int8_ort: float | None
    bf16: float | None
    fp16: float | None
    seconds: float
    threads: int

    def describe(self) -> str:
        """One line for the advisor's output, e.g. 'measured on this CPU (2.4 s probe): ...'."""

        def x(value: float | None) -> str:
            return f"{value:.1f}x" if value is not None else "n/a"

        return (
            f"speed vs fp32 measured on this CPU by a {self.seconds:.1f} s probe, "
            f"{self.threads} threads: int8 GEMM {x(self.int8_gemm)}, int8 conv "
            f"{x(self.int8_conv)} (torch), int8 MatMul {x(self.int8_ort)} (ONNX Runtime), "
            f"bf16 matmul {x(self.bf16)}, fp16 matmul {x(self.fp16)}"
        )


def _ratio(fp32: Callable[[], object], other: Callable[[], object]) -> float | None:
    """Median fp32 time / median `other` time, the two called alternately.

    Alternating, so a busy spell of the machine slows both sides alike instead of one.
    """
    try:
        with torch.inference_mode():
            for _ in range(3):
                fp32(), other()
            a: list[float] = []
            b: list[float] = []
            deadline = time.perf_counter() + _SLICE_S
            while len(a) < 5 or (time.perf_counter() < deadline and len(a) < 500):
                for fn, bucket in ((fp32, a), (other, b)):
                    start = time.perf_counter()
                    fn()
                    bucket.append(time.perf_counter() - start)
        return statistics.median(a) / statistics.median(b)
    except Exception:  # the kernel is missing on this build or CPU: no figure, no guess
        return None


def _torch_int8() -> tuple[float | None, float | None]:
    import torch.ao.nn.quantized as nnq

    torch.manual_seed(0)
    x = torch.randn(64, 512)
    linear = nn.Linear(512, 512).eval()
    qlinear = nnq.Linear(512, 512)
    qlinear.set_weight_bias(torch.quantize_per_tensor(linear.weight, 0.01, 0, torch.qint8),
                            linear.bias)  # fmt: skip
    qx = torch.quantize_per_tensor(x, 0.05, 128, torch.quint8)
    gemm = _ratio(lambda: linear(x), lambda: qlinear(qx))
    img = torch.randn(8, 32, 28, 28)
    conv = nn.Conv2d(32, 64, 3).eval()
    qconv = nnq.Conv2d(32, 64, 3)
    qconv.set_weight_bias(torch.quantize_per_tensor(conv.weight, 0.01, 0, torch.qint8), conv.bias)
    qimg = torch.quantize_per_tensor(img, 0.05, 128, torch.quint8)
    return gemm, _ratio(lambda: conv(img), lambda: qconv(qimg))


def _ort_int8() -> float | None:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import quantize_dynamic

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((512, 512)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 512])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 512])], [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = {"x": rng.standard_normal((64, 512)).astype(np.float32)}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with tempfile.TemporaryDirectory(prefix="wl-probe-") as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, fp32)
        quantize_dynamic(str(fp32), str(int8))
        sessions = [ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
                    for p in (fp32, int8)]  # fmt: skip
    return _ratio(lambda: sessions[0].run(None, x), lambda: sessions[1].run(None, x))


def _half(dtype: torch.dtype) -> float | None:
    a, b = torch.randn(256, 256), torch.randn(256, 256)
    ah, bh = a.to(dtype), b.to(dtype)
    return _ratio(lambda: a @ b, lambda: ah @ bh)


@functools.cache
def speed_probe() -> SpeedProbe:
    """Measure this CPU once per process (about 2-3 s); see the module docstring."""
    started = time.perf_counter()
    with quiet():
        try:
            gemm, conv = _torch_int8()
        except Exception:
            gemm = conv = None
        try:
            ort_int8 = _ort_int8()
        except Exception:
            ort_int8 = None
    return SpeedProbe(
        int8_gemm=gemm, int8_conv=conv, int8_ort=ort_int8,
        bf16=_half(torch.bfloat16), fp16=_half(torch.float16),
        seconds=time.perf_counter() - started, threads=torch.get_num_threads(),
    )  # fmt: skip
