"""fp32 export of the seed CNN: parity, checker, dynamic batch, measurement, exporter choice."""

from __future__ import annotations

import onnx
import pytest
import torch

import weightlight as wl
from weightlight.export import onnx as onnx_export
from weightlight.export.guardrail import precision_of


def test_cnn_parity_within_1e_4_and_full_agreement(cnn_onnx):
    report = cnn_onnx.parity
    assert cnn_onnx.exporter == "dynamo"
    assert report.samples == 360
    assert report.max_abs < 1e-4
    assert report.top1_agreement == 100.0
    assert report.ok


def test_exported_file_is_checked_simplified_and_batch_dynamic(cnn_onnx, trained_cnn):
    proto = onnx.load(str(cnn_onnx.path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 18
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    assert [o.name for o in proto.graph.output] == ["output"]
    assert {n.op_type for n in proto.graph.node} == {"Conv", "Relu", "MaxPool", "Reshape", "Gemm"}
    x = torch.randn(5, 1, 28, 28)
    with torch.inference_mode():
        expected = trained_cnn.eval()(x)
    assert torch.allclose(cnn_onnx.run(x), expected, atol=1e-4)
    assert cnn_onnx.optimized_path.is_file()  # the ORT-optimized graph saved to disk


def test_measure_onnx_reports_the_onnx_file(cnn_onnx, digits, trained_cnn):
    m = wl.measure(cnn_onnx, digits, batch_sizes=(1, 4), runs=5, warmup=1, threads=1)
    ref = wl.measure(trained_cnn, digits, batch_sizes=(1,), runs=5, warmup=1, threads=1)
    assert m.runtime == "onnxruntime"
    assert m.artifact_format == "onnx"
    assert m.size_bytes == cnn_onnx.path.stat().st_size
    assert abs(m.size_bytes - 4 * 1_199_882) < 4_000  # fp32 weights + a small graph
    assert m.params == 1_199_882 + 2  # + the Reshape's 2-element shape constant
    assert m.macs == ref.macs == 11_992_448  # counted from the graph = torch's flop counter
    assert abs(m.metric - ref.metric) < 1e-9
    assert m.peak_memory_bytes is not None and m.peak_memory_bytes > 4_800_000  # weights at least


@pytest.mark.parametrize("level", ["none", "basic", "extended"])
def test_optimization_levels_keep_outputs(cnn_onnx, level):
    x = torch.randn(3, 1, 28, 28)
    other = wl.export.OrtModel(cnn_onnx.path, optimize=level).save_optimized()
    assert other.optimized_path.name == f"cnn.{level}.onnx" and other.optimized_path.is_file()
    assert torch.allclose(other.run(x), cnn_onnx.run(x), atol=1e-5)


def test_legacy_fallback_when_dynamo_fails(trained_cnn, digits, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported op")

    monkeypatch.setattr(onnx_export, "_export_dynamo", broken)
    m = wl.export.onnx(trained_cnn, digits, tmp_path / "m.onnx", optimize="none")
    assert m.exporter == "legacy"
    assert m.parity.max_abs < 1e-4


def test_export_over_tolerance_is_flagged(trained_cnn, digits, tmp_path):
    with pytest.raises(wl.UserError, match="differs from PyTorch"):
        wl.export.onnx(trained_cnn, digits, tmp_path / "a.onnx", optimize="none", tolerance=1e-12)
    m = wl.export.onnx(
        trained_cnn, digits, tmp_path / "b.onnx", optimize="none", tolerance=1e-12, strict=False
    )
    assert m.parity.ok is False
    assert any("parity FAILED" in n for n in m.notes)


def test_load_model_reads_onnx(cnn_onnx):
    loaded = wl.models.load_model(cnn_onnx.path)
    assert isinstance(loaded, wl.export.OrtModel)
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(loaded.run(x), cnn_onnx.run(x))


def test_guardrail_notes_a_slower_int8(cnn_onnx, digits):
    fp32 = wl.measure(cnn_onnx, digits, batch_sizes=(1, 64), runs=5, warmup=1)
    p1, p64 = fp32.latency
    slow = fp32.with_updates(
        latency=(p1.model_copy(update={"p50_ms": p1.p50_ms * 2}), p64), name="int8"
    )
    checked = wl.export.guardrail(slow, fp32)
    assert len(checked.notes) == 1
    assert checked.notes[0].startswith("the quantized model measured SLOWER than its source model")
    assert wl.export.guardrail(fp32, fp32).notes == ()
    # The note names the variant's own precision (a bf16 variant's once said "int8"), and a
    # second check replaces the first one's notes instead of piling up.
    bf16 = wl.export.guardrail(checked, fp32, precision="bf16")
    assert bf16.notes == (checked.notes[0].replace("the quantized model", "bf16", 1),)
    assert wl.export.guardrail(checked, fp32).notes == checked.notes
    assert wl.export.guardrail(checked, checked).notes == ()
    assert "int8 measured" in wl.export.guardrail(slow.with_updates(int8_path="x86"), fp32).notes[0]


@pytest.mark.parametrize(
    ("config", "precision"),
    [({"method": "half", "dtype": "bf16"}, "bf16"), ({"method": "half", "dtype": "fp16"}, "fp16"),
     ({"method": "dynamic_int8"}, "int8"), ({"method": "ort_static_int8"}, "int8"),
     ({"method": "onnx", "quantize": "dynamic_int8"}, "int8"),
     ({"method": "weight_only", "bits": 4}, "int4 weight-only")],
)  # fmt: skip
def test_a_stage_names_its_own_precision(config, precision):
    assert precision_of(config) == precision
