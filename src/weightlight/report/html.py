"""A self-contained report.html: table, plots (inline PNG), summary, recipe and environment."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from weightlight.report.html_table import CSS as TABLE_CSS
from weightlight.report.html_table import variants_table
from weightlight.report.methods import column_methods
from weightlight.report.summary import busy_warning
from weightlight.variants import Variant

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem}
td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}
tr.best{background:#e8f5e9}tr.failed,tr.skipped{color:#b71c1c}
tr.baseline td:first-child{font-style:italic}
.plots img{max-width:48%;margin:.5rem;border:1px solid #eee}
pre{background:#f6f8fa;padding:1rem;overflow:auto;font-size:.8rem}
.note{color:#b71c1c;font-size:.85rem}
.busy{background:#fff8e1;border-left:4px solid #f9a825;padding:.4rem .8rem}
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
        f"<style>{_CSS}{TABLE_CSS}</style></head><body><h1>weightlight report: {_e(title)}</h1>",
        _conclusion(summary),
        "<h2>Variants</h2>",
        _busy(summary),
        variants_table(variants, summary, best),
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


def _busy(summary: dict) -> str:
    """Beside the table: the timings ran while other work shared the cores (pyperf-style)."""
    text = busy_warning(summary.get("busy", []), len(summary.get("ratios", [])) or None)
    return f"<p class='busy'><b>Note:</b> {_e(text)}.</p>" if text else ""


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


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
