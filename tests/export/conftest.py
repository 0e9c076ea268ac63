"""Exported models shared by the export tests (built once per module, never mutated)."""

from __future__ import annotations

import pytest

import weightlight as wl


@pytest.fixture(scope="session")
def cnn_onnx(trained_cnn, digits, tmp_path_factory) -> wl.export.OrtModel:
    """The trained seed CNN exported with the defaults (dynamo, onnxslim, optimize=all)."""
    return wl.export.onnx(trained_cnn, digits, tmp_path_factory.mktemp("cnn") / "cnn.onnx")


@pytest.fixture(scope="session")
def cnn_int8(cnn_onnx, digits) -> wl.export.OrtModel:
    """ORT static int8 (U8S8, per-channel, minmax) of the exported CNN."""
    return wl.export.quantize_onnx(
        cnn_onnx, digits, cnn_onnx.path.with_suffix(".int8.onnx"), wl.export.OrtStaticInt8()
    )
