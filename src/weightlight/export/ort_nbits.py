"""ONNX Runtime weight-only int4 / int8 MatMuls (the MatMulNBits contrib op).

`quantize_nbits` rewrites every MatMul with a constant weight into `MatMulNBits`: weights in
4 (or 8) bits with one scale per block of `block_size` input channels. With
`accuracy_level=4` ORT computes in int8: it quantizes the activations too, per block of the
same size at run time, so one outlier channel spoils only its own block, not the whole row as
a per-tensor dynamic int8 scale does. Weight-only quantization pays where weights dominate
(small batches, big layers); at 128 tokens a BERT layer is compute-bound, so measure it
against dynamic int8 (benchmarks/bench_encoder.py does) before choosing it.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from weightlight._io import atomic_path
from weightlight.errors import UserError, one_line
from weightlight.export._quiet import quiet
from weightlight.export.ort import OrtModel, check_onnx

ACCURACY_LEVELS = {0: "unset", 1: "fp32", 2: "fp16", 3: "bf16", 4: "int8"}


def quantize_nbits(
    onnx_model: OrtModel,
    path: str | Path,
    *,
    bits: int = 4,
    block_size: int = 32,
    accuracy_level: int = 4,
    symmetric: bool = True,
    exclude_nodes: tuple[str, ...] = (),
) -> OrtModel:
    """Write a copy of `onnx_model` whose MatMul weights are `bits`-bit, block-wise.

    Args:
        onnx_model: the fp32 model (a fused transformer graph works: only MatMul is touched).
        path: the output `.onnx` (written atomically).
        bits: 4 or 8.
        block_size: input channels per weight scale (a power of 2, >= 16).
        accuracy_level: compute type, see `ACCURACY_LEVELS` (4: int8, the fast one on CPU).
        symmetric: symmetric weight ranges (no zero point).
        exclude_nodes: MatMul node names kept in fp32.

    Example:
        >>> q = quantize_nbits(fused, "model.int4.onnx", bits=4, block_size=32)
        >>> q.notes
        ('18 MatMul -> MatMulNBits (4 bits, block 32, int8 compute)',)
    """
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    path = Path(path)
    if bits not in (4, 8):
        raise UserError(f"bits must be 4 or 8, got {bits}", "MatMulNBits stores 4 or 8 bits")
    if block_size < 16 or block_size & (block_size - 1):
        raise UserError(f"block_size must be a power of 2 >= 16, got {block_size}", "e.g. 32")
    if accuracy_level not in ACCURACY_LEVELS:
        raise UserError(f"unknown accuracy_level {accuracy_level}", "use 0..4 (4: int8 compute)")
    if path.suffix != ".onnx":
        raise UserError(f"output path '{path}' must end in .onnx", "e.g. model.int4.onnx")
    proto = onnx.load(str(onnx_model.path))
    names = {n.name for n in proto.graph.node}
    missing = [n for n in exclude_nodes if n not in names]
    if missing:
        raise UserError(f"exclude_nodes {missing} are not nodes of the model", "use ONNX names")
    try:
        with quiet():
            quantizer = MatMulNBitsQuantizer(
                proto,
                bits=bits,
                block_size=block_size,
                is_symmetric=symmetric,
                accuracy_level=accuracy_level,
                nodes_to_exclude=list(exclude_nodes),
            )
            quantizer.process()
    except Exception as exc:
        raise UserError(
            f"ORT's MatMulNBits quantizer failed ({one_line(str(exc))[:160]})",
            "quantize with OrtDynamicInt8 instead",
        ) from None
    done = sum(n.op_type == "MatMulNBits" for n in quantizer.model.model.graph.node)
    with atomic_path(path) as tmp:
        quantizer.model.save_model_to_file(str(tmp), use_external_data_format=False)
        check_onnx(tmp)
    note = (
        f"{done} MatMul -> MatMulNBits ({bits} bits, block {block_size}, "
        f"{ACCURACY_LEVELS[accuracy_level]} compute)"
    )
    return OrtModel(path, optimize=onnx_model.optimize, threads=onnx_model.threads,
                    notes=(note,))  # fmt: skip
