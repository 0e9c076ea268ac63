"""The rich table every command prints: one row per measured variant, ratios vs a baseline."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from weightlight.export.guardrail import is_guardrail_note
from weightlight.measure.metric import wilson_interval, within_noise
from weightlight.measure.record import Measurement
from weightlight.report.summary import busy_timings, busy_warning


def measurement_table(
    rows: Sequence[Measurement],
    baseline: Measurement | None = None,
    title: str | None = None,
    flags: dict[str, list[str]] | None = None,
) -> Table:
    """A table of measurements; with a baseline, speed and size also appear as ratios.

    Latency columns show the median (p50) per batch size and, against the baseline, how many
    times faster (`3.1x`). Size is the zipped artifact, which is what pruned zeros shrink. The
    metric is the test split's, with its 95 % Wilson interval for accuracy; "≈" marks a
    difference from the baseline within sampling noise.
    `flags` (report.summary's guardrail_flags) marks a variant `name !` and says why below.
    """
    checked, flags = flags is not None, flags or {}
    baseline = baseline or (rows[0] if rows else None)
    batch_sizes = sorted({p.batch_size for r in rows for p in r.latency})
    table = Table(title=title, header_style="bold")
    table.add_column("variant", style="cyan", no_wrap=True)
    table.add_column("runtime")
    table.add_column("params", justify="right")
    table.add_column("non-zero", justify="right")
    table.add_column("size MB (zip)", justify="right")
    table.add_column("MMACs", justify="right")
    for bs in batch_sizes:
        table.add_column(f"p50 ms bs{bs}", justify="right")
    gens = [r.generation for r in rows if r.generation is not None]
    if gens:  # a language model: generation as its users time it, lengths in the headers
        table.add_column(f"prefill ms ({gens[0].prompt_tokens} tok)", justify="right")
        table.add_column(f"decode tok/s ({gens[0].new_tokens} new)", justify="right")
        table.add_column("decode ms/tok p90", justify="right")
    table.add_column(f"test {rows[0].metric_name if rows else 'metric'}", justify="right")
    table.add_column("peak MB", justify="right")
    if any(r.energy for r in rows):
        estimated = {r.energy.estimate for r in rows if r.energy}
        tag = "estimate" if estimated == {True} else "RAPL" if estimated == {False} else "mixed"
        table.add_column(f"mJ / inf ({tag})", justify="right")
    for r in rows:
        cells = [
            f"{r.name} !" if r.name in flags else r.name,
            r.runtime,
            f"{r.params:,}",
            f"{r.nonzero_params:,}",
            _size(r, baseline),
            f"{r.macs / 1e6:.2f}" if r.macs is not None else "?",
        ]
        for bs in batch_sizes:
            cells.append(_latency(r, baseline, bs))
        if gens:
            cells += _generation(r, baseline)
        cells.append(_metric(r, baseline))
        cells.append(f"{r.peak_memory_bytes / 1e6:.1f}" if r.peak_memory_bytes else "-")
        if any(x.energy for x in rows):
            cells.append(f"{r.energy.joules_per_1m / 1e3:.2f}" if r.energy else "-")
        table.add_row(*cells)
    # With flags, the guardrail's notes (taken before the final re-timing) give way to them.
    shown = (lambda n: not is_guardrail_note(n)) if checked else (lambda n: True)
    notes = [f"{r.name}: {n}" for r in rows for n in r.notes if shown(n)]
    settings = sorted({_setting(g) for g in gens})
    notes += [f"generation: {text}" for text in settings]
    notes += [f"! {name}: {reason}" for name, reasons in flags.items() for reason in reasons]
    paths = {r.int8_path: [x.name for x in rows if x.int8_path == r.int8_path]
             for r in rows if r.int8_path}  # fmt: skip
    notes += [f"int8 path: {path} ({', '.join(names)})" for path, names in paths.items()]
    busy = busy_warning(busy_timings(rows), len(rows))
    if busy:
        notes.append(f"! {busy}")
    if notes:
        table.caption = "\n".join(notes)
    return table


def _setting(g) -> str:
    return (f"batch {g.batch_size}, prompt {g.prompt_tokens}, {g.new_tokens} new tokens, "
            f"greedy with the key/value cache, {g.threads} thread(s)")  # fmt: skip


def _generation(r: Measurement, base: Measurement | None) -> list[str]:
    g = r.generation
    if g is None:
        return ["-", "-", "-"]
    ref = base.generation if base is not None and base is not r else None
    prefill = f"{g.prefill_ms_p50:.2f}"
    decode = f"{g.decode_tokens_per_s:.0f}"
    if ref is not None:
        prefill += f" {ref.prefill_ms_p50 / g.prefill_ms_p50:.1f}x"
        decode += f" {g.decode_tokens_per_s / ref.decode_tokens_per_s:.1f}x"
    return [prefill, decode, f"{g.decode_ms_per_token_p90:.2f}"]


def _size(r: Measurement, base: Measurement | None) -> str:
    text = f"{r.size_bytes / 1e6:.2f} ({r.size_zipped_bytes / 1e6:.2f})"
    if base is not None and base is not r and r.size_zipped_bytes:
        text += f" {base.size_zipped_bytes / r.size_zipped_bytes:.1f}x"
    return text


def _latency(r: Measurement, base: Measurement | None, bs: int) -> str:
    point = r.latency_at(bs)
    if point is None:
        return "-"
    text = f"{point.p50_ms:.3f}"
    ref = base.latency_at(bs) if base is not None and base is not r else None
    if ref is not None:
        text += f" {ref.p50_ms / point.p50_ms:.1f}x"
    return text


def _metric(r: Measurement, base: Measurement | None) -> str:
    if r.metric is None:
        return "-"
    text = f"{r.metric:.2f}"
    if r.metric_worst is not None:
        text += f" (worst {r.metric_worst:.2f})"
    # An interval is a proportion's: classification accuracy only (not cosine, MSE, perplexity).
    accuracy = (
        r.metric_name == "accuracy"
        and r.metric_higher_is_better
        and 0 <= r.metric <= 100
        and r.metric_samples
    )
    if accuracy:
        lo, hi = wilson_interval(r.metric, r.metric_samples)
        text += f" [{lo:.1f}-{hi:.1f}]"
    if base is not None and base is not r and base.metric is not None:
        text += f" ({r.metric - base.metric:+.2f}"
        if (
            accuracy
            and base.metric_samples
            and within_noise(r.metric, r.metric_samples, base.metric, base.metric_samples)
        ):
            text += " ≈"
        text += ")"
    return text
