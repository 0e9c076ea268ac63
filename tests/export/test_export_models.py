"""Every built-in model, a structurally pruned one and an fp16 one export with parity."""

from __future__ import annotations

import copy

import onnx
import pytest
import torch

import weightlight as wl


@pytest.mark.parametrize("name", [n for n in wl.models.names() if n != "mnist_cnn"])
def test_registry_models_export_with_parity(name, digits, tmp_path):
    torch.manual_seed(0)
    model = wl.models.create(name).eval()
    m = wl.export.onnx(model, digits, tmp_path / f"{name}.onnx", optimize="basic")
    assert m.parity.max_abs < 1e-4 and m.parity.top1_agreement == 100.0
    n_params = sum(p.numel() for p in model.parameters())
    # BatchNorm folds into Conv, so the ONNX file can hold fewer numbers, never many more.
    assert m.param_counts()[0] <= n_params + 16


def test_structured_pruned_cnn_exports_smaller(trained_cnn, cnn_onnx, digits, tmp_path):
    pruned = wl.prune(trained_cnn, wl.prune.Structured(ratio=0.5), digits)
    m = wl.export.onnx(pruned, digits, tmp_path / "pruned.onnx", optimize="none")
    assert m.parity.max_abs < 1e-4
    conv2 = next(
        i for i in onnx.load(str(m.path)).graph.initializer if list(i.dims)[:2] == [32, 16]
    )
    assert list(conv2.dims) == [32, 16, 3, 3]  # conv2: 64 -> 32 filters, 32 -> 16 inputs
    assert m.path.stat().st_size < 0.3 * cnn_onnx.path.stat().st_size


def test_fp16_model_exports_with_its_own_tolerance(trained_cnn, digits, tmp_path):
    half = copy.deepcopy(trained_cnn).half()
    m = wl.export.onnx(half, digits, tmp_path / "half.onnx", optimize="none")
    graph_input = onnx.load(str(m.path)).graph.input[0].type.tensor_type.elem_type
    assert graph_input == onnx.TensorProto.FLOAT16
    assert m.parity.tolerance == 1e-2 and m.parity.ok
    assert m.parity.top1_agreement >= 99.0
    assert m.run(torch.zeros(2, 1, 28, 28)).dtype == torch.float32
