"""A self-contained report.html: table, plots (inline PNG), summary, recipe and environment."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from weightlight.report.methods import column_methods, energy_label
from weightlight.variants import Variant

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem}
td,th{padding:.3rem .5rem;vertical-align:top;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}
tr.best{background:#e8f5e9}tr.failed,tr.skipped{color:#b71c1c}
tr.baseline td:first-child{font-style:italic}
.plots img{max-width:48%;margin:.5rem;border:1px solid #eee}
pre{background:#f6f8fa;padding:1rem;overflow:auto;font-size:.8rem}
.note{color:#b71c1c;font-size:.85rem}
td.notes{min-width:32rem;text-align:left}
"""


def render_html(
    title: str,
    variants: Sequence[Variant],
    summary: dict,
    plots: dict[str, Path],
    recipe_yaml: str,
    environment: dict[str, str],
) -> str:
    best = summary.get("best", {}).get("name")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>weightlight report: {_e(title)}</h1>",
        _conclusion(summary),
        "<h2>Variants</h2>",
        _table(variants, summary, best),
        "<h2>Plots</h2><div class='plots'>",
    ]
    for name, path in plots.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(
            f"<img id='plot-{_e(name)}' alt='{_e(name)}' src='data:image/png;base64,{data}'>"
        )
    parts.append("</div><h2>Recipe</h2><pre>" + _e(recipe_yaml) + "</pre>")
    parts.append("<h2>Environment</h2><table>")
    parts += [f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in environment.items()]
    parts.append("</table><h2>How each column was measured (one method per column)</h2><table>")
    for column, how in column_methods(variants).items():
        if how["same_for_all_rows"]:
            text = _e(how["method"]) + " <i>(every row)</i>"
        else:
            text = "<span class='note'>NOT the same for every row:</span><br>" + "<br>".join(
                f"{_e(m)}: {_e(', '.join(names))}" for m, names in how["by_method"].items()
            )
        parts.append(f"<tr><td>{_e(column)}</td><td style='text-align:left'>{text}</td></tr>")
    tools = {v.measurement.runtime: v.measurement.methods.get("counted_by") for v in variants
             if v.ok and v.measurement.methods.get("counted_by")}  # fmt: skip
    for runtime, tool in tools.items():  # the same definitions, each runtime's own counter
        parts.append(f"<tr><td>counted by ({_e(runtime)})</td>"
                     f"<td style='text-align:left'>{_e(tool)}</td></tr>")  # fmt: skip
    parts.append("</table></body></html>")
    return "\n".join(parts)


def _conclusion(summary: dict) -> str:
    best = summary.get("best")
    if not best:
        return "<p>No variant stayed within the accuracy budget.</p>"
    if summary.get("generation"):
        return _lm_conclusion(summary, best)
    text = (
        f"<p><b>Best within {summary['max_drop']:g} point(s) of the base</b> (largest speed-up "
        f"x size reduction, chosen on the {_e(summary.get('selected_on', 'test split'))}): "
        f"<code>{_e(best['name'])}</code>: {best['speedup']:.1f}x faster at batch "
        f"{summary['batch_size']}, {best['size_ratio']:.1f}x smaller, "
        f"{_drop_text(best)}.</p>"
    )
    for key in ("fastest", "smallest"):
        other = summary.get(key)
        if other and other["name"] != best["name"]:
            text += (
                f"<p>{key.capitalize()}: <code>{_e(other['name'])}</code>: "
                f"{other['speedup']:.1f}x faster, {other['size_ratio']:.1f}x smaller, "
                f"{_drop_text(other)}.</p>"
            )
    peer = summary.get("best_peer")
    if peer:
        verdict = "beats" if summary.get("beats_peers") else "does not beat"
        text += (
            f"<p>The recipe {verdict} the best peer, a library tutorial's default int8 "
            f"(<code>{_e(peer['name'])}</code>: "
            f"{peer['speedup']:.1f}x faster, {peer['size_ratio']:.1f}x smaller).</p>"
        )
    return text


def _lm_conclusion(summary: dict, best: dict) -> str:
    """A language model's verdict: decode speed with the cache, then size and perplexity."""
    text = (
        f"<p><b>Fastest decoder within {summary['max_drop']:g} perplexity point(s) of the "
        f"base</b> (chosen on the {_e(summary.get('selected_on', 'test split'))}): "
        f"<code>{_e(best['name'])}</code>: {best['decode_speedup']:.2f}x the base's decode "
        f"tokens/s, time to first token {best['prefill_speedup']:.2f}x faster, "
        f"{best['size_ratio']:.1f}x smaller, {_drop_text(best)} (perplexity: lower is "
        f"better).</p><p>Generation measured at {_e(summary['generation'])}, greedy with the "
        "key/value cache; variants without a token-by-token decoder (a plain ONNX graph) "
        "are not candidates.</p>"
    )
    if best["decode_speedup"] < 1:
        text += (
            "<p class='note'>No variant within the budget decodes faster than the base on "
            "this CPU: keep the base for speed; the others only save size.</p>"
        )
    smallest = summary.get("smallest")
    if smallest and smallest["name"] != best["name"]:
        text += (
            f"<p>Smallest: <code>{_e(smallest['name'])}</code>: {smallest['size_ratio']:.1f}x "
            f"smaller, {smallest['decode_speedup']:.2f}x decode tokens/s, "
            f"{_drop_text(smallest)}.</p>"
        )
    return text


def _drop_text(row: dict) -> str:
    """The held-out test drop, its interval and whether it is within sampling noise."""
    if row.get("metric_drop") is None:
        return "metric drop unknown"
    text = f"test metric drop {row['metric_drop']:+.2f}"
    if row.get("metric_interval"):
        lo, hi = row["metric_interval"]
        text += f" (test {row['metric']:.2f} %, 95 % CI {lo:.2f}-{hi:.2f})"
    if row.get("within_noise"):
        text += ", within sampling noise of the base"
    return text


def _table(variants: Sequence[Variant], summary: dict, best: str | None) -> str:
    bs = summary.get("batch_size")
    ratios = {r["name"]: r for r in summary.get("ratios", [])}
    gens = [v.measurement.generation for v in variants
            if v.measurement is not None and v.measurement.generation is not None]  # fmt: skip
    head = ("<table><tr><th>variant</th><th>from</th><th>runtime</th><th>params</th>"
            "<th>non-zero</th><th>size MB</th><th>zipped MB</th>")  # fmt: skip
    if gens:  # a language model: how it generates comes first, beside its perplexity
        g = gens[0]
        head += (
            "<th>test perplexity</th>"
            f"<th>decode tok/s ({g.new_tokens} new)</th><th>decode speed-up</th>"
            "<th>decode ms/tok p90</th>"
            f"<th>prefill ms p50 ({g.prompt_tokens} tok)</th><th>prefill ms p90</th>"
            "<th>generation peak MB</th>"
        )
    head += "<th>MMACs</th>"
    sizes = sorted({p.batch_size for v in variants if v.measurement for p in v.measurement.latency})
    head += "".join(f"<th>p50 ms bs{b}</th><th>p90 ms bs{b}</th>" for b in sizes)
    energy = energy_label(variants)
    tag = f" ({energy})" if energy else ""
    head += (
        f"<th>speed-up bs{bs}</th><th>smaller</th><th>val metric</th>"
        + ("" if gens else "<th>test metric [95 % CI]</th>")
        + "<th>peak MB</th>"
        f"<th>mJ/inf{tag}</th><th>gCO2/1M{tag}</th><th>cost/1M{tag}</th><th>notes</th></tr>"
    )
    rows = [head]
    for v in variants:
        m = v.measurement
        css = "best" if v.name == best else v.status if v.status != "ok" else v.kind
        if m is None:
            rows.append(f"<tr class='{css}'><td>{_e(v.name)}</td><td>{_e(v.parent or '')}</td>"
                        f"<td colspan='99' style='text-align:left'>{_e(v.status)}: "
                        f"{_e(v.error or '')}</td></tr>")  # fmt: skip
            continue
        r = ratios.get(v.name, {})
        cells = [v.name, v.parent or "", m.runtime, f"{m.params:,}", f"{m.nonzero_params:,}",
                 f"{m.size_bytes / 1e6:.3f}", f"{m.size_zipped_bytes / 1e6:.3f}"]  # fmt: skip
        if gens:
            cells += [_metric_cell(m, r), *_generation_cells(m.generation, r)]
        cells.append(f"{m.macs / 1e6:.2f}" if m.macs is not None else "?")
        for b in sizes:
            p = m.latency_at(b)
            cells += [f"{p.p50_ms:.3f}", f"{p.p90_ms:.3f}"] if p else ["-", "-"]
        cells += [
            f"{r['speedup']:.1f}x" if r.get("speedup") else "-",
            f"{r['size_ratio']:.1f}x" if r.get("size_ratio") else "-",
            f"{m.val_metric:.2f}" if m.val_metric is not None else "-",
            *([] if gens else [_metric_cell(m, r)]),
            f"{m.peak_memory_bytes / 1e6:.1f}" if m.peak_memory_bytes else "-",
            f"{m.energy.joules_per_1m / 1e3:.3f}" if m.energy else "-",
            f"{m.energy.co2_g_per_1m:.2f}" if m.energy else "-",
            f"{m.energy.cost_per_1m:.4f} {m.energy.currency}" if m.energy else "-",
        ]
        flagged = [f"! {reason}" for reason in summary.get("flags", {}).get(v.name, [])]
        int8 = [f"int8 path: {m.int8_path}"] if m.int8_path else []
        notes = "<br>".join(f"<span class='note'>{_e(n)}</span>"
                            for n in (*flagged, *m.notes, *int8))  # fmt: skip
        rows.append(f"<tr class='{css}'>" + "".join(f"<td>{_e(c)}</td>" for c in cells)
                    + f"<td class='notes'>{notes}</td></tr>")  # fmt: skip
    rows.append("</table>")
    rows.append(
        f"<p class='legend'>Metric: chosen on the {_e(summary.get('selected_on', 'test split'))}"
        ", reported on the held-out test split with a 95 % Wilson interval; ≈ marks a test "
        "metric within sampling noise of the base's (two-proportion test, 95 %).</p>"
    )
    return "\n".join(rows)


def _generation_cells(g, row: dict) -> list[str]:
    if g is None:  # e.g. a full-sequence ONNX graph: no token-by-token decoder
        return ["-"] * 6
    return [
        f"{g.decode_tokens_per_s:.0f}",
        f"{row['decode_speedup']:.2f}x" if row.get("decode_speedup") else "-",
        f"{g.decode_ms_per_token_p90:.2f}", f"{g.prefill_ms_p50:.2f}", f"{g.prefill_ms_p90:.2f}",
        f"{g.peak_memory_bytes / 1e6:.1f}" if g.peak_memory_bytes else "-",
    ]  # fmt: skip


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
