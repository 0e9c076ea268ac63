"""The recipe's export stage: `Export` config and its handler (fp32 ONNX, then optional int8).

YAML: `export: {format: onnx, optimize: all, quantize: static_int8, calibration: percentile}`

Two int8 options keep transformer outliers under control: `smooth` (SmoothQuant scales folded
into the torch model's norms / producing Linears before export, so the graph keeps its shape)
and `keep_fp32` (the N nodes that int8 hurts most, ranked on the data by `onnx_rank`, stay in
fp32).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from torch import nn

from weightlight._registry import Registry
from weightlight._third_party import third_party
from weightlight.config import Config
from weightlight.data import Data
from weightlight.export.ort import OrtModel
from weightlight.export.ort_nbits import NBits
from weightlight.export.ort_quant import OrtDynamicInt8, OrtStaticInt8, quantize_onnx
from weightlight.quantize.smoothing import Smooth


class Export(Config):
    """Export to ONNX, verify parity, optimize for ONNX Runtime, optionally quantize to int8.

    Example (YAML): `export: {format: onnx, optimize: all, quantize: static_int8}`
    """

    method: Literal["onnx"] = Field("onnx", description="Export method (ONNX via torch.onnx).")
    format: Literal["onnx"] = Field("onnx", description="Artifact format.")
    opset: int = Field(18, ge=17, le=23, description="ONNX opset version.")
    optimize: Literal["none", "basic", "extended", "all"] = Field(
        "all", description="ONNX Runtime graph optimization level (+ BERT fusions at >= basic)."
    )
    quantize: Literal["static_int8", "dynamic_int8"] | None = Field(
        None, description="ORT int8: static (CNNs; calibrated) or dynamic (transformers)."
    )
    calibration: Literal["minmax", "percentile", "entropy"] = Field(
        "minmax", description="Static int8 calibration method."
    )
    per_channel: bool = Field(True, description="Per-channel weight scales for int8.")
    reduce_range: bool | None = Field(
        None, description="int8 with 7-bit weights; None: on exactly where the CPU needs it."
    )
    exclude_nodes: tuple[str, ...] = Field((), description="ONNX node names kept in fp32.")
    smooth: Smooth = None
    keep_fp32: int = Field(
        0,
        ge=0,
        description="Keep the N ONNX nodes int8 hurts most in fp32 (ranked on the data).",
    )
    tolerance: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Parity tolerance: max abs error / max(1, max |output|); "
        "default 1e-4 (fp32), 1e-2 (fp16/bf16).",
    )
    simplify: bool = Field(True, description="Simplify the graph with onnxslim.")
    kv_cache: bool = Field(
        False, description="Causal LMs: key/value cache as graph inputs/outputs (decoding)."
    )
    weight_only: NBits | None = Field(
        None, description="ORT MatMulNBits int4/int8 weights (rtn, gptq, hqq); LMs decode faster."
    )

    @model_validator(mode="after")
    def _one_quantization(self) -> Export:
        if self.quantize and self.weight_only:
            raise ValueError("choose quantize (int8) or weight_only (MatMulNBits), not both")
        return self

    @model_validator(mode="after")
    def _int8_options_need_int8(self) -> Export:
        if self.quantize is None and (self.smooth is not None or self.keep_fp32):
            raise ValueError("smooth and keep_fp32 are int8 options: set quantize too")
        return self

    def quant_config(self) -> OrtStaticInt8 | OrtDynamicInt8 | None:
        """The int8 config this stage implies, or None for fp32 only."""
        if self.quantize == "static_int8":
            return OrtStaticInt8(
                calibration=self.calibration,
                per_channel=self.per_channel,
                reduce_range=self.reduce_range,
                exclude_nodes=self.exclude_nodes,
            )
        if self.quantize == "dynamic_int8":
            return OrtDynamicInt8(
                per_channel=self.per_channel,
                reduce_range=self.reduce_range,
                exclude_nodes=self.exclude_nodes,
            )
        return None


Handler = Callable[[nn.Module, Config, Data, Path], OrtModel]
HANDLERS: Registry[Handler] = Registry("export config", "pass wl.export.Export(...) ({names})")
handles = HANDLERS.register  # `@handles(Config)`: the function that runs one export config type


def export(model: nn.Module, config: Config, data: Data, path: str | Path) -> OrtModel:
    """Run an export stage: `wl.export(model, wl.export.Export(quantize="static_int8"), data,
    "out/model.onnx")` -> the final OrtModel (int8 at `model.int8.onnx` when quantized).

    Example:
        >>> m = wl.export(model, wl.export.Export(optimize="all"), data, "out/model.onnx")
        >>> m.runtime
        'onnxruntime'
    """
    handler = HANDLERS.lookup(config)
    fix = "make forward() traceable (plain tensor ops on data.example_input), or stay in torch"
    with third_party(f"export ({config.method})", fix):
        return handler(model, config, data, Path(path))


@handles(Export)
def _export_onnx(model: nn.Module, config: Export, data: Data, path: Path) -> OrtModel:
    from weightlight.export.onnx import export_onnx

    if config.smooth is not None:
        from weightlight.quantize.static import smoothed

        model = smoothed(model, config.smooth, data)
    if config.kv_cache:
        from weightlight.export.decoder import export_decoder

        fp32 = export_decoder(
            model,
            path,
            opset=config.opset,
            optimize=config.optimize,
            simplify=config.simplify,
            tolerance=config.tolerance or 1e-4,
        )
    else:
        fp32 = export_onnx(
            model, data, path, opset=config.opset, simplify=config.simplify,
            optimize=config.optimize, tolerance=config.tolerance,
        )  # fmt: skip
    if config.weight_only is not None:
        from weightlight.export.ort_nbits import quantize_nbits_config

        nbits = config.weight_only
        target = path.with_suffix(f".int{nbits.bits}.onnx")
        return quantize_nbits_config(fp32, data, target, nbits)
    quant = config.quant_config()
    if quant is None:
        return fp32
    if config.keep_fp32:
        from weightlight.export.onnx_rank import rank_onnx_nodes

        ranking = rank_onnx_nodes(fp32, data, quant, measure_top=2 * config.keep_fp32 + 2)
        fragile = tuple(ranking.names[: config.keep_fp32])
        quant = quant.model_copy(update={"exclude_nodes": (*quant.exclude_nodes, *fragile)})
    return quantize_onnx(fp32, data, path.with_suffix(".int8.onnx"), quant)
