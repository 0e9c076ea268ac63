"""How each column of a report was measured: one method per column, checked across rows.

A column whose rows were obtained in different ways (an old record beside a new one, RAPL on
one variant and an estimate on another) is not comparable down its length, so instead of
describing the first row's method the report lists every method with the rows that used it
and flags the column.
"""

from __future__ import annotations

from collections.abc import Sequence

from weightlight.variants import Variant

# Report columns and the Measurement.methods key that describes each.
COLUMNS = {
    "params": "params",
    "size": "size",
    "macs": "macs",
    "latency": "latency",
    "metric": "metric",
    "peak_memory": "peak_memory",
    "energy": "energy",
    "generation": "generation",
    "generation_memory": "generation_memory",
}


def column_methods(variants: Sequence[Variant]) -> dict[str, dict]:
    """{column: {"method": text, "same_for_all_rows": bool, "by_method": {text: [names]}}}.

    `method` is the one method when all rows agree, else "differs by row (see by_method)".
    """
    out: dict[str, dict] = {}
    for column, key in COLUMNS.items():
        by_method: dict[str, list[str]] = {}
        for v in variants:
            if not v.ok:
                continue
            m = v.measurement
            text = (
                (m.energy.method if m.energy else None) if key == "energy" else m.methods.get(key)
            )
            if text is not None:
                by_method.setdefault(text, []).append(v.name)
        if not by_method:
            continue
        same = len(by_method) == 1
        out[column] = {
            "method": next(iter(by_method)) if same else "differs by row (see by_method)",
            "same_for_all_rows": same,
            "by_method": by_method,
        }
    return out


def energy_label(variants: Sequence[Variant]) -> str:
    """The word the energy column headers and plot carry: 'estimate', 'RAPL' or 'mixed'."""
    flags = {v.measurement.energy.estimate for v in variants if v.ok and v.measurement.energy}
    if flags == {True}:
        return "estimate"
    if flags == {False}:
        return "RAPL"
    return "mixed: estimate and RAPL" if flags else ""
