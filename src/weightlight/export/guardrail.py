"""Guardrail: say plainly when a quantized model is slower than the model it came from.

int8 is not always faster: ORT's dynamic Conv, PT2E models that were never lowered, or tiny
batches where quantize/dequantize overhead dominates can all make it slower. A table that
shows such a variant without comment invites a wrong deployment decision.
"""

from __future__ import annotations

from weightlight.measure.record import Measurement


def guardrail(int8: Measurement, fp32: Measurement, *, margin: float = 1.05) -> Measurement:
    """Return `int8` with a note for each batch size where it is slower than `fp32`.

    A batch size counts as slower when the int8 median latency exceeds the fp32 one by more
    than `margin` (5 % by default, below which timing noise on a shared CPU decides).

    Example:
        >>> checked = wl.export.guardrail(wl.measure(q, data), wl.measure(onnx_model, data))
        >>> checked.notes
        ('int8 measured SLOWER than its fp32 source at batch 1: 0.21 ms vs 0.18 ms (1.17x)',)
    """
    notes = []
    for point in int8.latency:
        ref = fp32.latency_at(point.batch_size)
        if ref is None or point.p50_ms <= ref.p50_ms * margin:
            continue
        notes.append(
            f"int8 measured SLOWER than its fp32 source at batch {point.batch_size}: "
            f"{point.p50_ms:.3g} ms vs {ref.p50_ms:.3g} ms ({point.p50_ms / ref.p50_ms:.2f}x); "
            f"keep the fp32 model for this runtime and CPU"
        )
    if not notes:
        return int8
    return int8.with_updates(notes=tuple(int8.notes) + tuple(notes))
