"""ONNX export and ONNX Runtime: `wl.export.onnx(model, data, "model.onnx")` -> OrtModel.

import weightlight as wl
onnx_model = wl.export.onnx(model, data, "out/model.onnx", optimize="all")  # parity-checked
q = wl.export.quantize_onnx(onnx_model, data, "out/model.int8.onnx", wl.export.OrtStaticInt8())
wl.measure(q, data)                                  # runtime "onnxruntime"

The package is callable for recipe stages: `wl.export(model, wl.export.Export(...), data, path)`.
A causal LM exports with its key/value cache (`Export(kv_cache=True)`, `export.decoder`) and
runs token by token in `export.ort_decoder.OrtDecoder`; `Export(weight_only=NBits(...))` writes
ORT MatMulNBits int4/int8 weights (rtn, gptq, hqq).
onnxruntime is imported only when a session or quantizer is first used.
"""

from weightlight._callable_module import make_callable
from weightlight.export import onnx
from weightlight.export.guardrail import guardrail
from weightlight.export.ort import OrtModel, check_onnx, load_onnx
from weightlight.export.ort_decoder import OrtDecoderModel  # also registers its graph kind
from weightlight.export.ort_nbits import NBits, quantize_nbits
from weightlight.export.ort_quant import OrtDynamicInt8, OrtStaticInt8, quantize_onnx
from weightlight.export.parity import ParityReport, parity
from weightlight.export.stage import Export, export
from weightlight.export.transformer import optimize_transformer

# The recipe's export stage configs (the pipeline builds its schema from these).
CONFIGS = (Export,)

__all__ = [
    "CONFIGS",
    "Export",
    "NBits",
    "OrtDecoderModel",
    "OrtDynamicInt8",
    "OrtModel",
    "OrtStaticInt8",
    "ParityReport",
    "check_onnx",
    "export",
    "guardrail",
    "load_onnx",
    "onnx",
    "optimize_transformer",
    "parity",
    "quantize_nbits",
    "quantize_onnx",
]

make_callable(__name__, export)
