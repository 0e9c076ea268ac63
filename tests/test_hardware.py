"""The per-CPU choices, tested on every machine with saved /proc/cpuinfo texts of each kind
(tests/cpuinfo/), read through the same WEIGHTLIGHT_CPUINFO override an emulated run uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

import weightlight as wl
from weightlight import hardware
from weightlight.hardware import choose_settings, parse_cpuinfo, stage_precision
from weightlight.search.advise import LayerCost, recommend
from weightlight.search.probe import SpeedProbe

CPUINFO = Path(__file__).parent / "cpuinfo"
VNNI, AVX2, ARM = "x86_avx512_vnni.txt", "x86_avx2.txt", "arm64_neoverse_n1.txt"


@pytest.fixture
def cpu(monkeypatch):
    """Make this process read one of the saved cpuinfo texts (as WEIGHTLIGHT_CPUINFO does)."""

    def use(name: str) -> None:
        monkeypatch.setenv(hardware.CPUINFO_ENV, str(CPUINFO / name))

    return use


@pytest.mark.parametrize(
    ("name", "isa", "int8", "bf16", "fp16"),
    [
        (VNNI, "x86 AVX-512 VNNI", True, True, False),
        (AVX2, "x86 AVX2", False, False, False),
        (ARM, "ARM64 NEON dotprod", True, False, True),
    ],
)
def test_parsed_cpuinfo_of_each_kind(name, isa, int8, bf16, fp16):
    f = parse_cpuinfo((CPUINFO / name).read_text())
    assert (f.isa, f.fast_int8, f.fast_bf16, f.fast_fp16) == (isa, int8, bf16, fp16)


def test_settings_follow_the_cpu():
    vnni, avx2, arm = (choose_settings(parse_cpuinfo((CPUINFO / n).read_text()))
                       for n in (VNNI, AVX2, ARM))  # fmt: skip
    # u8*s8 saturates int16 only on x86 without VNNI: reduce range exactly there.
    assert (vnni.reduce_range, avx2.reduce_range, arm.reduce_range) == (False, True, False)
    assert (vnni.torch_backend, avx2.torch_backend, arm.torch_backend) == ("x86", "x86", "qnnpack")
    assert (vnni.ort_activations, avx2.ort_activations, arm.ort_activations) == (
        "uint8", "uint8", "int8")  # fmt: skip
    assert avx2.describe() == "x86 AVX2, reduce range on"
    assert vnni.describe(reduce_range=True) == "x86 AVX-512 VNNI, reduce range on (forced)"
    assert avx2.half_note("bf16") and "emulated" in avx2.half_note("fp16")
    assert vnni.half_note("bf16") is None and arm.half_note("fp16") is None


def test_unknown_and_empty_cpuinfo_are_conservative():
    f = parse_cpuinfo("")
    assert (f.arch, f.fast_int8, f.fast_bf16, f.isa) == ("unknown", False, False, "unknown CPU")
    assert choose_settings(f).reduce_range  # no VNNI known: the safe 7-bit choice


def test_override_env_var_switches_the_branch(cpu):
    cpu(AVX2)
    assert hardware.cpu_features().model_name == "AMD EPYC 7B12"
    assert hardware.quant_settings().reduce_range
    assert stage_precision({"method": "static_int8"}) == ("x86 AVX2, reduce range on", ())
    assert stage_precision({"method": "onnx", "quantize": "static_int8", "reduce_range": False})[
        0] == "x86 AVX2, reduce range off (forced)"  # fmt: skip
    assert "emulated" in stage_precision({"method": "half", "dtype": "bf16"})[1][0]
    cpu(VNNI)
    assert stage_precision({"method": "static_int8"})[0] == "x86 AVX-512 VNNI, reduce range off"
    assert stage_precision({"method": "half", "dtype": "bf16"}) == (None, ())
    assert stage_precision({"method": "structured"}) == (None, ())


def test_unreadable_override_is_a_user_error(monkeypatch, tmp_path):
    monkeypatch.setenv(hardware.CPUINFO_ENV, str(tmp_path / "missing.txt"))
    with pytest.raises(wl.UserError, match="WEIGHTLIGHT_CPUINFO"):
        hardware.cpu_features()


# Which 16-bit floats each saved CPU computes natively: (bf16, fp16).
HALF_NATIVE = {VNNI: (True, False), AVX2: (False, False), ARM: (False, True)}


@pytest.mark.parametrize("name", HALF_NATIVE)
def test_half_stage_carries_a_note_exactly_where_its_dtype_is_emulated(cpu, name):
    cpu(name)
    for dtype, native in zip(("bf16", "fp16"), HALF_NATIVE[name], strict=True):
        int8_path, notes = stage_precision({"method": "half", "dtype": dtype})
        assert int8_path is None
        if native:
            assert notes == ()
        else:
            assert len(notes) == 1 and f"{dtype} is not native" in notes[0], notes
            assert "slower than fp32" in notes[0]


@pytest.mark.parametrize("name", HALF_NATIVE)
def test_advisor_offers_bf16_only_where_native_and_warns_off_emulated_fp16(name):
    # The probe claims 16-bit floats are 2x faster: only the CPU's flags may hold them back.
    probe = SpeedProbe(int8_gemm=2.0, int8_conv=2.0, int8_ort=2.0, bf16=2.0, fp16=2.0,
                       seconds=1.0, threads=2)  # fmt: skip
    costs = [LayerCost("conv", "Conv2d", 10, 40, 900), LayerCost("fc", "Linear", 10, 40, 100)]
    cpu = parse_cpuinfo((CPUINFO / name).read_text())
    names = [r.technique for r in recommend(costs, cpu, [], [], True, probe)]
    bf16, fp16 = HALF_NATIVE[name]
    assert ("bf16" in names) == bf16, names
    assert ("avoid fp16" in names) == (not fp16), names
    assert "fp16" not in names  # never recommended, even where native


def _largest_activation_code(model: torch.nn.Module, x: torch.Tensor) -> int:
    """The largest uint8 code any quantized layer outputs on `x`."""
    codes: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: codes.append(int(out.int_repr().max())))
             for m in model.modules() if type(m).__module__.startswith("torch.ao.nn.quantized")
             and hasattr(m, "scale")]  # fmt: skip
    with torch.inference_mode():
        model(x)
    for h in hooks:
        h.remove()
    assert codes, "no quantized layer ran"
    return max(codes)


@pytest.mark.parametrize(
    ("name", "low", "high"), [(AVX2, 100, 127), (VNNI, 200, 255), (ARM, 200, 255)]
)
def test_torch_static_int8_narrows_activations_only_without_vnni(cpu, digits, name, low, high):
    # minmax calibration on batches like the one measured: codes reach near the grid's top.
    cpu(name)
    torch.manual_seed(0)
    model = wl.models.mlp()
    q = wl.quantize(model, wl.quantize.StaticInt8(calibration="minmax", batches=2), digits)
    x = next(iter(digits.calib))[0]
    assert low <= _largest_activation_code(q, x) <= high


@pytest.mark.parametrize(
    ("name", "engine", "per_channel"), [(ARM, "qnnpack", False), (AVX2, "x86", True)]
)
def test_torch_static_int8_runs_on_the_cpus_backend(cpu, digits, name, engine, per_channel):
    cpu(name)
    before = torch.backends.quantized.engine
    try:
        torch.manual_seed(0)
        model = wl.models.mlp().eval()
        q = wl.quantize(model, wl.quantize.StaticInt8(batches=2), digits)
        assert torch.backends.quantized.engine == engine  # the engine the model runs on
        schemes = {m.weight().qscheme() for m in q.modules()
                   if isinstance(m, torch.ao.nn.quantized.Linear)}  # fmt: skip
        channel = {torch.per_channel_affine, torch.per_channel_symmetric}
        assert schemes and (schemes <= channel) == per_channel, schemes
        x = next(iter(digits.calib))[0]
        with torch.inference_mode():
            cos = torch.nn.functional.cosine_similarity(q(x), model(x)).min()
        assert cos > 0.99, cos
    finally:
        torch.backends.quantized.engine = before


@pytest.mark.parametrize(
    ("name", "limit", "activations"),
    [(AVX2, 64, onnx.TensorProto.UINT8), (VNNI, 127, onnx.TensorProto.UINT8),
     (ARM, 127, onnx.TensorProto.INT8)],
)  # fmt: skip
def test_ort_static_int8_narrows_weights_only_without_vnni(
    cpu, digits, tmp_path, name, limit, activations
):
    from weightlight.export.onnx import export_onnx

    cpu(name)
    torch.manual_seed(0)
    fp32 = export_onnx(wl.models.mlp(), digits, tmp_path / "m.onnx", optimize="none")
    q = wl.export.quantize_onnx(fp32, digits, tmp_path / "m.int8.onnx")
    graph = onnx.load(str(q.path)).graph
    weights = [numpy_helper.to_array(t) for t in graph.initializer
               if t.data_type == onnx.TensorProto.INT8 and np.prod(t.dims) > 100]  # fmt: skip
    assert weights
    # Symmetric per-channel: each channel's largest |w| lands on the grid's edge.
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in weights) == limit
    # Activations: U8S8 on x86, S8S8 on ARM64 (the zero points' type is the activations').
    inits = {t.name: t for t in graph.initializer}
    zero_points = {inits[n.input[2]].data_type for n in graph.node
                   if n.op_type == "QuantizeLinear" and len(n.input) > 2}  # fmt: skip
    assert zero_points == {activations}
