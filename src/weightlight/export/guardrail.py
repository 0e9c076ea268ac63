"""Guardrail: say plainly when a quantized model is slower than the model it came from.

int8 is not always faster: ORT's dynamic Conv, PT2E models that were never lowered, or tiny
batches where quantize/dequantize overhead dominates can all make it slower; bf16 / fp16 are
emulated (and slower) on a CPU without those instructions. A table that shows such a variant
without comment invites a wrong deployment decision. The note names the variant's own
precision: a bf16 variant's note once said "int8 measured SLOWER".
"""

from __future__ import annotations

from weightlight.measure.record import Measurement

# Every guardrail note contains this, so a re-check replaces the notes of an earlier one.
_MARK = " measured SLOWER than its source "


def precision_of(config: dict) -> str:
    """A stage's precision in words, from its config as variants.jsonl records it.

    Example:
        >>> precision_of({"method": "half", "dtype": "bf16"})
        'bf16'
    """
    method = config.get("method") or ""
    if method == "half":
        return str(config.get("dtype", "bf16"))
    if method == "weight_only":
        return f"int{config.get('bits', 8)} weight-only"
    if "int8" in method or method == "qat" or config.get("quantize"):
        return "int8"
    return "the quantized model"


def is_guardrail_note(note: str) -> bool:
    """Whether `note` is one `guardrail` wrote (a report that re-checks every variant against
    its parent on the final, re-timed figures shows its own line instead)."""
    return _MARK in note


def guardrail(
    quantized: Measurement, source: Measurement, *, precision: str | None = None,
    margin: float = 1.05,
) -> Measurement:  # fmt: skip
    """Return `quantized` with a note for each batch size where it is slower than `source`.

    A batch size counts as slower when the quantized median latency exceeds the source's by
    more than `margin` (5 % by default, below which timing noise on a shared CPU decides).
    `precision` names what `quantized` is ("int8", "bf16", ...; `precision_of(config)` gives
    it for a stage); when None it is "int8" for a record with an int8 kernel path, else "the
    quantized model". Notes of an earlier guardrail call on the record are replaced.

    Example:
        >>> checked = wl.export.guardrail(wl.measure(q, data), wl.measure(onnx_model, data))
        >>> checked.notes
        ('int8 measured SLOWER than its source model at batch 1: 0.21 ms vs 0.18 ms (1.17x); ...',)
    """
    if precision is None:
        precision = "int8" if quantized.int8_path else "the quantized model"
    notes = []
    for point in quantized.latency:
        ref = source.latency_at(point.batch_size)
        if ref is None or point.p50_ms <= ref.p50_ms * margin:
            continue
        notes.append(
            f"{precision}{_MARK}{source.name} at batch {point.batch_size}: "
            f"{point.p50_ms:.3g} ms vs {ref.p50_ms:.3g} ms ({point.p50_ms / ref.p50_ms:.2f}x); "
            f"keep {source.name} for this runtime and CPU"
        )
    kept = tuple(n for n in quantized.notes if _MARK not in n)
    if not notes and kept == quantized.notes:
        return quantized
    return quantized.with_updates(notes=kept + tuple(notes))
