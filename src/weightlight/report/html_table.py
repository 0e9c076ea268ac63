"""The variants table of report.html: one line per variant, notes numbered underneath.

Notes (guardrail flags, the int8 kernels' path, emulation warnings, errors) are sentences; in a
column of their own they squeezed a transformer run's table to one word per line (a row ~650
px tall at a 1,400 px window). Here each distinct note is written once under the table,
numbered, and every row it concerns links to it (`[2]` after the variant's name); the table
keeps its cells on one line and scrolls sideways inside its own box when it is wider than the
page.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from weightlight.export.guardrail import is_guardrail_note
from weightlight.report.methods import energy_label
from weightlight.variants import Variant

CSS = """
.table-box{overflow-x:auto;max-width:100%;border:1px solid #eee}
table.variants td,table.variants th{white-space:nowrap}
table.variants th{vertical-align:bottom}
table.variants sup{line-height:0}
table.variants sup a{text-decoration:none;color:#b71c1c;font-size:.75rem}
ol.notes{font-size:.85rem;max-width:70rem;padding-left:2rem}
ol.notes li{margin:.2rem 0}ol.notes li.flag{color:#b71c1c}
ol.notes li:target{background:#fff8e1}tr:target{outline:2px solid #f9a825}
"""


class _Notes:
    """Distinct note texts in first-seen order; each remembers the rows that cite it."""

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {}
        self.flags: set[str] = set()

    def cite(self, row: str, text: str, *, flag: bool = False) -> int:
        rows = self.texts.setdefault(text, [])
        if row not in rows:
            rows.append(row)
        if flag:
            self.flags.add(text)
        return list(self.texts).index(text) + 1

    def html(self) -> str:
        if not self.texts:
            return ""
        items = []
        for number, (text, rows) in enumerate(self.texts.items(), 1):
            links = ", ".join(f"<a href='#{_row_id(r)}'>{_e(r)}</a>" for r in rows)
            css = " class='flag'" if text in self.flags else ""
            items.append(f"<li id='note-{number}'{css}>{links}: {_e(text)}</li>")
        return "<h3>Notes</h3><ol class='notes'>" + "".join(items) + "</ol>"


def variants_table(variants: Sequence[Variant], summary: dict, best: str | None) -> str:
    """The table, its numbered notes and the metric legend, as one HTML fragment."""
    bs = summary.get("batch_size")
    ratios = {r["name"]: r for r in summary.get("ratios", [])}
    notes = _Notes()
    gens = [v.measurement.generation for v in variants
            if v.measurement is not None and v.measurement.generation is not None]  # fmt: skip
    head = ("<th>variant</th><th>from</th><th>runtime</th><th>params</th>"
            "<th>non-zero</th><th>size<br>MB</th><th>zipped<br>MB</th>")  # fmt: skip
    if gens:  # a language model: how it generates comes first, beside its perplexity
        g = gens[0]
        head += (
            "<th>test<br>perplexity</th>"
            f"<th>decode tok/s<br>({g.new_tokens} new)</th><th>decode<br>speed-up</th>"
            "<th>decode ms/tok<br>p90</th>"
            f"<th>prefill ms p50<br>({g.prompt_tokens} tok)</th><th>prefill ms<br>p90</th>"
            "<th>generation<br>peak MB</th>"
        )
    head += "<th>MMACs</th>"
    sizes = sorted({p.batch_size for v in variants if v.measurement for p in v.measurement.latency})
    head += "".join(f"<th>p50 ms<br>bs{b}</th><th>p90 ms<br>bs{b}</th>" for b in sizes)
    energy = energy_label(variants)
    tag = f"<br>({_e(energy)})" if energy else ""
    head += (
        f"<th>speed-up<br>bs{bs}</th><th>smaller</th><th>val<br>metric</th>"
        + ("" if gens else "<th>test metric<br>[95 % CI]</th>")
        + "<th>peak<br>MB</th>"
        f"<th>mJ/inf{tag}</th><th>gCO2/1M{tag}</th><th>cost/1M{tag}</th>"
    )
    rows = [f"<div class='table-box'><table class='variants'><tr>{head}</tr>"]
    for v in variants:
        rows.append(_row(v, ratios.get(v.name, {}), sizes, summary, best, notes, bool(gens)))
    rows.append("</table></div>")
    rows.append(notes.html())
    rows.append(
        f"<p class='legend'>Metric: chosen on the {_e(summary.get('selected_on', 'test split'))}"
        ", reported on the held-out test split with a 95 % Wilson interval; ≈ marks a test "
        "metric within sampling noise of the base's (two-proportion test, 95 %).</p>"
    )
    return "\n".join(rows)


def _row(
    v: Variant, r: dict, sizes: list[int], summary: dict, best, notes: _Notes, lm: bool
) -> str:
    m = v.measurement
    css = "best" if v.name == best else v.status if v.status != "ok" else v.kind
    refs = []
    for reason in summary.get("flags", {}).get(v.name, []):
        refs.append(notes.cite(v.name, f"! {reason}", flag=True))
    if m is None:
        refs.append(notes.cite(v.name, f"{v.status}: {v.error or 'no measurement'}", flag=True))
        return (f"<tr id='{_row_id(v.name)}' class='{css}'><td>{_e(v.name)}{_sup(refs)}</td>"
                f"<td>{_e(v.parent or '')}</td><td colspan='99' style='text-align:left'>"
                f"{_e(v.status)}</td></tr>")  # fmt: skip
    # The flags above re-check every variant on the final figures: the guardrail's own notes,
    # taken before the re-timing, would say the same (or something stale) a second time.
    refs += [notes.cite(v.name, n) for n in m.notes if not is_guardrail_note(n)]
    if m.int8_path:
        refs.append(notes.cite(v.name, f"int8 path: {m.int8_path}"))
    cells = [m.runtime, f"{m.params:,}", f"{m.nonzero_params:,}",
             f"{m.size_bytes / 1e6:.3f}", f"{m.size_zipped_bytes / 1e6:.3f}"]  # fmt: skip
    if lm:
        cells += [_metric_cell(m, r), *_generation_cells(m.generation, r)]
    cells.append(f"{m.macs / 1e6:.2f}" if m.macs is not None else "?")
    for b in sizes:
        p = m.latency_at(b)
        cells += [f"{p.p50_ms:.3f}", f"{p.p90_ms:.3f}"] if p else ["-", "-"]
    cells += [
        f"{r['speedup']:.1f}x" if r.get("speedup") else "-",
        f"{r['size_ratio']:.1f}x" if r.get("size_ratio") else "-",
        f"{m.val_metric:.2f}" if m.val_metric is not None else "-",
        *([] if lm else [_metric_cell(m, r)]),
        f"{m.peak_memory_bytes / 1e6:.1f}" if m.peak_memory_bytes else "-",
        f"{m.energy.joules_per_1m / 1e3:.3f}" if m.energy else "-",
        f"{m.energy.co2_g_per_1m:.2f}" if m.energy else "-",
        f"{m.energy.cost_per_1m:.4f} {m.energy.currency}" if m.energy else "-",
    ]
    return (f"<tr id='{_row_id(v.name)}' class='{css}'><td>{_e(v.name)}{_sup(refs)}</td>"
            f"<td>{_e(v.parent or '')}</td>"
            + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")  # fmt: skip


def _generation_cells(g, row: dict) -> list[str]:
    if g is None:  # e.g. a full-sequence ONNX graph: no token-by-token decoder
        return ["-"] * 6
    return [
        f"{g.decode_tokens_per_s:.0f}",
        f"{row['decode_speedup']:.2f}x" if row.get("decode_speedup") else "-",
        f"{g.decode_ms_per_token_p90:.2f}", f"{g.prefill_ms_p50:.2f}", f"{g.prefill_ms_p90:.2f}",
        f"{g.peak_memory_bytes / 1e6:.1f}" if g.peak_memory_bytes else "-",
    ]  # fmt: skip


def _sup(numbers: list[int]) -> str:
    """Superscript links to the notes, e.g. [1][3]."""
    unique = list(dict.fromkeys(numbers))
    links = "".join(f"<a href='#note-{n}'>[{n}]</a>" for n in unique)
    return f" <sup>{links}</sup>" if links else ""


def _row_id(name: str) -> str:
    """An id attribute for a variant's row (names are free text: keep letters and digits)."""
    return "row-" + "".join(c if c.isalnum() or c in "-_" else f"_{ord(c):x}" for c in name)


def _metric_cell(m, row: dict) -> str:
    """Test metric, its 95 % interval, and "≈" when its difference from the base is noise."""
    if m.metric is None:
        return "-"
    text = f"{m.metric:.2f}"
    if row.get("metric_interval"):
        lo, hi = row["metric_interval"]
        text += f" [{lo:.1f}, {hi:.1f}]"
    if row.get("within_noise") and row.get("kind") != "base":
        text += " ≈"
    return text


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
