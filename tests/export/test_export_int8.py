"""ORT int8 of the seed CNN: static accuracy, calibration methods, exclusions, dynamic notes."""

from __future__ import annotations

import onnx
import pytest

import weightlight as wl
from weightlight.errors import UserError
from weightlight.measure.metric import evaluate


def _accuracy(model, digits) -> float:
    return evaluate(wl.measure.as_runnable(model).run, digits.eval)


def test_static_int8_agrees_with_fp32(cnn_int8, cnn_onnx, digits, agreement):
    fp32, int8 = _accuracy(cnn_onnx, digits), _accuracy(cnn_int8, digits)
    # Margins any x86 CPU's numerics keep (tests/conftest.py); int16 saturation breaks them.
    assert abs(int8 - fp32) <= 1.0
    assert cnn_int8.parity.top1_agreement >= agreement.int8_floor
    assert cnn_int8.path.stat().st_size < 0.27 * cnn_onnx.path.stat().st_size  # int8 weights
    ops = {n.op_type for n in onnx.load(str(cnn_int8.path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format


def test_static_int8_uses_uint8_activations(cnn_int8):
    graph = onnx.load(str(cnn_int8.path)).graph
    zero_points = {i.name: i.data_type for i in graph.initializer}
    q_nodes = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    assert q_nodes
    assert all(zero_points[n.input[2]] == onnx.TensorProto.UINT8 for n in q_nodes)  # U8S8


@pytest.mark.parametrize("method", ["percentile", "entropy"])
def test_calibration_methods_keep_accuracy(cnn_onnx, digits, tmp_path, method):
    config = wl.export.OrtStaticInt8(calibration=method, per_channel=False, calib_batches=2)
    q = wl.export.quantize_onnx(cnn_onnx, digits, tmp_path / f"{method}.onnx", config)
    assert abs(_accuracy(q, digits) - _accuracy(cnn_onnx, digits)) <= 1.0
    assert q.parity.mean_cosine > 0.999


def test_excluded_node_stays_fp32(cnn_onnx, digits, tmp_path):
    first_conv = next(n.name for n in onnx.load(str(cnn_onnx.path)).graph.node
                      if n.op_type == "Conv")  # fmt: skip
    config = wl.export.OrtStaticInt8(exclude_nodes=(first_conv,), calib_batches=2)
    q = wl.export.quantize_onnx(cnn_onnx, digits, tmp_path / "ex.onnx", config)
    graph = onnx.load(str(q.path)).graph
    conv = next(n for n in graph.node if n.name == first_conv)
    producers = {o: n.op_type for n in graph.node for o in n.output}
    assert producers.get(conv.input[1]) is None  # weight is a plain fp32 initializer
    other = next(n for n in graph.node if n.op_type == "Conv" and n.name != first_conv)
    assert producers[other.input[1]] == "DequantizeLinear"


def test_unknown_excluded_node_fails_before_writing(cnn_onnx, digits, tmp_path):
    config = wl.export.OrtStaticInt8(exclude_nodes=("no_such_node",))
    with pytest.raises(wl.UserError, match="no_such_node"):
        wl.export.quantize_onnx(cnn_onnx, digits, tmp_path / "x.onnx", config)
    assert not (tmp_path / "x.onnx").exists()


def test_dynamic_int8_on_a_cnn_says_use_static(cnn_onnx, digits, tmp_path):
    q = wl.export.quantize_onnx(cnn_onnx, digits, tmp_path / "d.onnx", wl.export.OrtDynamicInt8())
    assert any("use static int8" in n for n in q.notes)
    ops = {n.op_type for n in onnx.load(str(q.path)).graph.node}
    assert "Conv" in ops and "ConvInteger" not in ops


def test_configs_validate_fields():
    # Configs convert pydantic's error into one UserError line naming the field (issue 19).
    with pytest.raises(UserError, match=r"^OrtStaticInt8\.calibration: .*'kl'"):
        wl.export.OrtStaticInt8(calibration="kl")
    with pytest.raises(UserError, match=r"^Export\.optimize: .*'max'"):
        wl.export.Export(optimize="max")
    with pytest.raises(UserError, match=r"^Export\.opset: .*17"):
        wl.export.Export(opset=13)
    assert tuple(wl.export.CONFIGS) == (wl.export.Export,)
    assert wl.export.Export(quantize="static_int8", calibration="entropy").quant_config() == (
        wl.export.OrtStaticInt8(calibration="entropy")
    )


def test_export_stage_writes_fp32_and_int8(trained_cnn, digits, tmp_path, agreement):
    config = wl.export.Export(optimize="basic", quantize="static_int8")
    q = wl.export(trained_cnn, config, digits, tmp_path / "m.onnx")
    assert q.path == tmp_path / "m.int8.onnx"
    assert (tmp_path / "m.onnx").is_file()
    assert q.optimize == "basic"
    assert q.parity.top1_agreement >= agreement.int8_floor
