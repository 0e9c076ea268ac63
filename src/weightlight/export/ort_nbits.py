"""ONNX Runtime weight-only int4 / int8 MatMuls (the MatMulNBits contrib op).

`quantize_nbits` rewrites every MatMul with a constant weight into `MatMulNBits`: weights in
4 (or 8) bits with one scale per block of `block_size` input channels, through ORT's own
quantizer (`onnxruntime.quantization.matmul_nbits_quantizer`). How the integers are chosen:

- `rtn`: round to nearest (ORT's default quantizer), no data.
- `gptq`: GPTQ (Frantar et al., 2022): rounds one input channel at a time and moves each
  rounding error onto the channels not yet rounded, weighted by the inverse Hessian X^T X of
  the layer's input activations over calibration text, so the layer's *output* on that text
  changes least. Computed by `weightlight.export.gptq` on the same grid as `rtn` (with the
  Hessian replaced by I it writes RTN's bytes) and packed as MatMulNBits: ORT 1.32's own GPTQ
  config quantizes GPTQ's result a second time on another grid and came out worse than RTN
  (that module's docstring says how). On the trained tiny LM (4 bits, block 32, int8
  compute) perplexity fp32 2.4483, RTN 2.4528, GPTQ 2.4484 (tests/lm/test_gptq.py).
- `hqq`: Half-Quadratic Quantization (Badri & Shaji, 2023): fits scales and float zero points
  that minimise a robust weight error, no data.

With `accuracy_level=4` ORT computes in int8: it quantizes the activations too, per block of
the same size at run time, so one outlier channel spoils only its own block, not the whole row
as a per-tensor dynamic int8 scale does. Weight-only quantization pays where weights dominate:
decoding one token at a time reads every weight per token, so 4-bit weights cut the bytes
read ~7x (benchmarks/bench_lm.py measures it); at 128 tokens a BERT layer is compute-bound,
so measure it against dynamic int8 there (benchmarks/bench_encoder.py does).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from weightlight._io import atomic_path
from weightlight._lazy import lazy_import
from weightlight.config import Config
from weightlight.errors import UserError, one_line
from weightlight.export._quiet import quiet
from weightlight.export.ort import OrtModel, check_onnx

onnx = lazy_import("onnx")  # ~1.2 s to import: only when a graph is touched

ACCURACY_LEVELS = {0: "unset", 1: "fp32", 2: "fp16", 3: "bf16", 4: "int8"}
ALGORITHMS = ("rtn", "gptq", "hqq")


class NBits(Config):
    """Weight-only MatMulNBits options of an export stage.

    Example (YAML): `export: {format: onnx, kv_cache: true,
    weight_only: {bits: 4, algorithm: gptq, block_size: 32, accuracy_level: 4}}`
    """

    bits: Literal[4, 8] = Field(4, description="Weight bits: 4 or 8.")
    algorithm: Literal["rtn", "gptq", "hqq"] = Field(
        "rtn", description="rtn (round to nearest), gptq (calibrated on data.calib) or hqq."
    )
    block_size: int = Field(32, ge=16, description="Input channels per scale (power of 2).")
    accuracy_level: Literal[0, 1, 2, 3, 4] = Field(
        4, description="MatMulNBits compute type: 4 int8 (fastest on CPU), 1 fp32, 0 unset."
    )
    symmetric: bool = Field(True, description="Symmetric weight ranges (no zero point).")
    calibration_batches: int = Field(8, ge=1, description="GPTQ: calibration batches read.")

    @model_validator(mode="after")
    def _check(self) -> NBits:
        if self.block_size & (self.block_size - 1):
            raise ValueError(f"block_size must be a power of 2, got {self.block_size}")
        if self.algorithm == "hqq" and self.bits != 4:
            raise ValueError("ORT runs HQQ's float zero points only at 4 bits: use bits 4 or rtn")
        return self


def quantize_nbits(
    onnx_model: OrtModel,
    path: str | Path,
    *,
    bits: int = 4,
    block_size: int = 32,
    accuracy_level: int = 4,
    symmetric: bool = True,
    algorithm: str = "rtn",
    calibration: Iterable[dict[str, np.ndarray]] | None = None,
    exclude_nodes: tuple[str, ...] = (),
) -> OrtModel:
    """Write a copy of `onnx_model` whose MatMul weights are `bits`-bit, block-wise.

    Args:
        onnx_model: the fp32 model (a fused transformer graph or a KV-cache decoder works:
            only MatMul is touched). The result is the same kind of model.
        path: the output `.onnx` (written atomically).
        bits: 4 or 8.
        block_size: input channels per weight scale (a power of 2, >= 16).
        accuracy_level: compute type, see `ACCURACY_LEVELS` (4: int8, the fast one on CPU).
        symmetric: symmetric weight ranges (no zero point); rtn and gptq.
        algorithm: rtn, gptq or hqq (see the module docstring).
        calibration: GPTQ only: the graph's input feeds (name -> array) to calibrate on.
        exclude_nodes: MatMul node names kept in fp32.

    Example:
        >>> q = quantize_nbits(fused, "model.int4.onnx", bits=4, block_size=32)
        >>> q.notes
        ('18 MatMul -> MatMulNBits (4 bits, block 32, rtn, int8 compute)',)
    """
    path = Path(path)
    if bits not in (4, 8):
        raise UserError(f"bits must be 4 or 8, got {bits}", "MatMulNBits stores 4 or 8 bits")
    if block_size < 16 or block_size & (block_size - 1):
        raise UserError(f"block_size must be a power of 2 >= 16, got {block_size}", "e.g. 32")
    if accuracy_level not in ACCURACY_LEVELS:
        raise UserError(f"unknown accuracy_level {accuracy_level}", "use 0..4 (4: int8 compute)")
    if algorithm not in ALGORITHMS:
        raise UserError(f"unknown algorithm '{algorithm}'", f"use one of {', '.join(ALGORITHMS)}")
    if path.suffix != ".onnx":
        raise UserError(f"output path '{path}' must end in .onnx", "e.g. model.int4.onnx")
    if algorithm == "hqq" and bits != 4:
        raise UserError("hqq runs only at 4 bits in ORT (float zero points)", "use bits=4 or rtn")
    feeds = list(calibration or [])
    if algorithm == "gptq" and not feeds:
        raise UserError(
            "gptq needs calibration feeds",
            "pass calibration= (or use algorithm='rtn')",
        )
    proto = onnx.load(str(onnx_model.path))
    names = {n.name for n in proto.graph.node}
    missing = [n for n in exclude_nodes if n not in names]
    if missing:
        raise UserError(f"exclude_nodes {missing} are not nodes of the model", "use ONNX names")
    try:
        with quiet():
            model = _quantize(proto, bits, block_size, accuracy_level, symmetric, algorithm,
                              feeds, exclude_nodes)  # fmt: skip
    except Exception as exc:
        raise UserError(
            f"ORT's MatMulNBits quantizer failed ({one_line(str(exc))[:160]})",
            "try algorithm='rtn', or quantize with OrtDynamicInt8 instead",
        ) from None
    done = _set_accuracy_level(model, accuracy_level)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
        check_onnx(tmp)
    note = (
        f"{done} MatMul -> MatMulNBits ({bits} bits, block {block_size}, {algorithm}, "
        f"{ACCURACY_LEVELS[accuracy_level]} compute)"
    )
    return onnx_model.with_info(path=path, parity=None, optimized_path=None, notes=(note,))


def _quantize(proto, bits, block_size, accuracy_level, symmetric, algorithm, feeds, exclude):
    from onnxruntime.quantization import matmul_nbits_quantizer as mnq

    if algorithm == "gptq":
        from weightlight.export.gptq import quantize_graph

        return quantize_graph(proto, feeds, bits=bits, block_size=block_size,
                              symmetric=symmetric, exclude=exclude)  # fmt: skip
    config = None
    if algorithm == "hqq":
        config = mnq.HQQWeightOnlyQuantConfig(block_size=block_size, bits=bits)
    quantizer = mnq.MatMulNBitsQuantizer(
        proto, bits=bits, block_size=block_size, is_symmetric=symmetric,
        accuracy_level=accuracy_level, nodes_to_exclude=list(exclude), algo_config=config,
    )  # fmt: skip
    quantizer.process()
    model = quantizer.model
    return model.model if hasattr(model, "model") else model


def _set_accuracy_level(model: onnx.ModelProto, level: int) -> int:
    """Give every MatMulNBits node the compute type asked for (ORT's HQQ path sets none) and
    the graph its contrib-op domain; returns how many nodes there are."""
    nodes = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    if nodes and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(
            onnx.helper.make_opsetid("com.microsoft", 1)
        )  # a graph without it fails to load
    for node in nodes:
        kept = [a for a in node.attribute if a.name != "accuracy_level"]
        del node.attribute[:]
        node.attribute.extend([*kept, onnx.helper.make_attribute("accuracy_level", level)])
    return len(nodes)


def quantize_nbits_config(onnx_model: OrtModel, data, path: str | Path, config: NBits) -> OrtModel:
    """`quantize_nbits` as an `NBits` config says; GPTQ calibrates on `data.calib`, one
    unpadded sequence per feed (padding would add activations the model never sees)."""
    feeds = calibration_feeds(onnx_model, data, config.calibration_batches)
    return quantize_nbits(
        onnx_model, path, bits=config.bits, block_size=config.block_size,
        accuracy_level=config.accuracy_level, symmetric=config.symmetric,
        algorithm=config.algorithm, calibration=feeds if config.algorithm == "gptq" else None,
    )  # fmt: skip


def calibration_feeds(onnx_model: OrtModel, data, count: int) -> list[dict[str, np.ndarray]]:
    """The graph's input feeds for `count` calibration batches (token batches: per sequence)."""
    import itertools

    import torch

    from weightlight import batch as batches
    from weightlight.export.ort_decoder import OrtDecoderModel

    if data is None:
        raise UserError("GPTQ needs calibration data", "pass data, or use algorithm rtn")
    feeds = []
    for batch in itertools.islice(data.calib, count):
        inputs, _ = batches.split(batch)
        if isinstance(onnx_model, OrtDecoderModel) and isinstance(inputs, dict):
            mask = inputs.get("attention_mask")
            for i in range(inputs["input_ids"].shape[0]):
                keep = slice(None) if mask is None else mask[i].bool()
                ids = inputs["input_ids"][i][keep][None]
                if ids.shape[1]:
                    whole = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
                    feeds.append(onnx_model.feeds(whole))
        else:
            feeds.append(onnx_model.feeds(inputs))
    return feeds
