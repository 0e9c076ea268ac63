"""Guardrails: every kind of variant slower than its parent, or over the accuracy budget, is
flagged with its reason in the summary (report.json), the terminal table and report.html."""

from __future__ import annotations

from rich.console import Console

from weightlight.measure.record import LatencyPoint, Measurement
from weightlight.report.summary import guardrail_flags, summarize
from weightlight.report.table import measurement_table
from weightlight.variants import Variant


def _variant(name, parent, kind, ms, accuracy, int8_path=None) -> Variant:
    points = tuple(LatencyPoint(batch_size=bs, p50_ms=ms * bs, p90_ms=ms * bs * 1.1,
                                mean_ms=ms * bs, throughput_per_s=1e3 / ms, runs=5, warmup=1)
                   for bs in (1, 64))  # fmt: skip
    m = Measurement(name=name, runtime="torch", params=100, nonzero_params=100, size_bytes=400,
                    size_zipped_bytes=380, artifact_format="safetensors", macs=None, threads=2,
                    latency=points, metric_name="accuracy", metric=accuracy,
                    peak_memory_bytes=None, methods={}, int8_path=int8_path)  # fmt: skip
    return Variant(name=name, parent=parent, kind=kind, status="ok", measurement=m)


VARIANTS = [
    _variant("base", None, "base", 1.0, 99.0),
    _variant("pruned", "base", "prune", 0.5, 98.5),  # faster, within budget: not flagged
    _variant("pruned-ft", "pruned", "finetune", 0.6, 98.9),  # 1.2x slower than its parent
    _variant("int8", "pruned", "quantize", 0.2, 97.5, "x86 AVX2, reduce range on"),  # -1.5 pt
    _variant("same", "pruned", "quantize", 0.51, 98.6),  # within the 5 % noise margin
]


def test_slower_than_parent_and_over_budget_are_flagged_with_reasons():
    flags = guardrail_flags(VARIANTS, max_drop=1.0)
    assert sorted(flags) == ["int8", "pruned-ft"]
    assert flags["pruned-ft"] == [
        "slower than its parent pruned at batch 1: 0.6 vs 0.5 ms (1.20x)",
        "slower than its parent pruned at batch 64: 38.4 vs 32 ms (1.20x)",
    ]
    assert flags["int8"] == ["loses 1.50 accuracy points vs base (budget 1)"]
    assert guardrail_flags(VARIANTS, max_drop=2.0).keys() == {"pruned-ft"}
    assert summarize(VARIANTS, max_drop=1.0)["flags"] == flags  # what report.json holds


def test_flags_and_int8_path_show_in_the_table():
    summary = summarize(VARIANTS, max_drop=1.0)
    rows = [v.measurement for v in VARIANTS]
    console = Console(width=250, record=True)
    console.print(measurement_table(rows, flags=summary["flags"]))
    text = console.export_text()
    assert "int8 !" in text and "pruned-ft !" in text and "pruned !" not in text
    assert "! int8: loses 1.50 accuracy points vs base (budget 1)" in text
    assert "int8 path: x86 AVX2, reduce range on (int8)" in text
