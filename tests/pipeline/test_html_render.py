"""The HTML report renders in a real browser with its plots (headless Chromium)."""

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import weightlight as wl
from weightlight.measure.record import Energy, LatencyPoint, Measurement
from weightlight.recipe import parse_recipe
from weightlight.variants import Variant, write_variants

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """.ci/run installs Debian's chromium and sets CI=true: there a missing browser is a
    failure, never a silent skip. A developer machine without it skips these tests."""
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but chromium is not installed: apt-get install chromium")
        pytest.skip("chromium not installed (with CI=true this fails)")
    return CHROMIUM


@pytest.fixture(scope="module")
def report_html(tmp_path_factory, digits):
    out = tmp_path_factory.mktemp("html")
    model = wl.train(wl.models.mlp(), digits, epochs=1, progress=False)
    recipe = {
        "stages": [
            {"prune": {"method": "unstructured", "ratio": 0.5}},
            {"quantize": {"method": "dynamic_int8"}},
        ],
        "measure": {"batch_sizes": [1, 8], "runs": 3, "warmup": 1},
        "baselines": False,
    }
    wl.run(parse_recipe(recipe), model, digits, out)  # fmt: skip
    return wl.report(out).html_path


def _chromium(*args, tmp_path):
    profile = tmp_path / "profile"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_every_plot_decodes_in_the_browser(report_html, tmp_path):
    # The page records each image's decoded width in the DOM once loaded; --dump-dom returns
    # the DOM after load, so a broken data URI shows up as width 0.
    probe = tmp_path / "probe.html"
    page = report_html.read_text()
    script = (
        "<script>window.addEventListener('load',()=>{document.body.dataset.widths="
        "[...document.images].map(i=>i.naturalWidth).join(',')});</script></body>"
    )
    probe.write_text(page.replace("</body>", script))  # fmt: skip
    dom = _chromium("--dump-dom", probe.as_uri(), tmp_path=tmp_path).stdout
    widths = dom.split('data-widths="')[1].split('"')[0].split(",")
    assert len(widths) == 5 and all(int(w) > 300 for w in widths)  # 4 plots + energy


def test_screenshot_shows_the_pareto_front_in_red(report_html, tmp_path):
    shot = tmp_path / "shot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1400,2600", report_html.as_uri(),
              tmp_path=tmp_path)  # fmt: skip
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # matplotlib's tab:red (214, 39, 40) marks the Pareto front points and line.
    red = (abs(pixels - [214, 39, 40]).sum(axis=2) < 60).sum()
    assert red > 60  # at least one front marker in each trade-off plot
    assert (pixels.sum(axis=2) < 600).mean() > 0.02  # text and plots, not a blank page


# A transformer run's notes: long sentences that, as a table column, made each row ~650 px tall.
_NOTES = {
    "torch-dynamic-int8": (
        "int8 measured SLOWER than its source base at batch 1: 41.2 ms vs 30.5 ms (1.35x); "
        "keep the source model for this runtime and CPU",
    ),
    "bf16": (
        "bf16 runs emulated on this CPU (x86 AVX2: no AVX512_BF16 / AMX): expect it slower than "
        "fp32; use int8 (dynamic_int8 or an ONNX export with quantize) for speed here",
    ),
}


def _transformer_variant(name: str, parent: str | None, kind: str, ms: float) -> Variant:
    points = tuple(
        LatencyPoint(batch_size=b, p50_ms=ms * b, p90_ms=ms * b * 1.3, mean_ms=ms * b,
                     throughput_per_s=1000 / ms, runs=20, warmup=3) for b in (1, 8)
    )  # fmt: skip
    m = Measurement(
        name=name, runtime="onnxruntime" if "onnx" in name else "torch", params=22_713_216,
        nonzero_params=22_713_216, size_bytes=90_868_000, size_zipped_bytes=83_000_000,
        artifact_format="onnx", macs=None if "int8" in name else 2_900_000_000, threads=2,
        latency=points, metric_name="cosine", metric=99.3, metric_worst=97.4,
        peak_memory_bytes=300_000_000, methods={"latency": "interleaved"},
        notes=_NOTES.get(name, ()), int8_path="x86 AVX2, reduce range on" if "int8" in name
        else None, energy=Energy(joules_per_1m=3.1e6, kwh_per_1m=0.86, co2_g_per_1m=340.0,
        cost_per_1m=0.26, currency="USD", watts=20.0, batch_size=8, method="estimate"),
    )  # fmt: skip
    return Variant(name=name, parent=parent, kind=kind, status="ok", measurement=m)


@pytest.fixture(scope="module")
def transformer_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("transformer")
    variants = [
        _transformer_variant("base", None, "base", 30.5),
        _transformer_variant("torch-dynamic-int8", "base", "quantize", 41.2),
        _transformer_variant("onnx", "base", "export", 20.1),
        _transformer_variant("onnx-dynamic-int8", "base", "export", 15.3),
        _transformer_variant("bf16", "base", "quantize", 95.0),
        Variant(name="onnx-static-int8", parent="base", kind="export", status="failed",
                error="ORT's quantizer could not quantize the pooler: Unable to get valid "
                "quantization scale for input '/model/pooler/activation/Tanh_output_0' when "
                "quantizing bias 'model.classifier.bias' to int32; exclude the node or use "
                "dynamic_int8"),
    ]  # fmt: skip
    write_variants(out, variants)
    return wl.report(out).html_path


# Reads, once the page has loaded, every variants-table row's height in CSS pixels, the font
# size, and how wide the page is against the window (the table must scroll in its own box).
_ROW_PROBE = """<script>window.addEventListener('load',()=>{
const table=document.querySelector('table');  // the first table: the variants'
const rows=[...table.querySelectorAll('tr')].slice(1);
const td=table.querySelector('td');
document.body.dataset.rows=rows.map(r=>r.getBoundingClientRect().height.toFixed(1)).join(',');
document.body.dataset.font=getComputedStyle(td).fontSize;
document.body.dataset.page=document.documentElement.scrollWidth+'x'+window.innerWidth;
});</script></body>"""


@pytest.mark.parametrize("which", ["transformer_report", "report_html"])
def test_rows_stay_one_line_at_a_laptop_width(which, request, tmp_path):
    page = request.getfixturevalue(which)
    probe = tmp_path / "rows.html"
    probe.write_text(page.read_text().replace("</body>", _ROW_PROBE))
    dom = _chromium("--dump-dom", "--window-size=1400,900", probe.as_uri(),
                    tmp_path=tmp_path).stdout  # fmt: skip

    def attr(name):
        return dom.split(f'data-{name}="')[1].split('"')[0]

    heights = [float(h) for h in attr("rows").split(",")]
    font = float(attr("font").removesuffix("px"))
    scroll_width, window_width = (int(x) for x in attr("page").split("x"))
    assert len(heights) == (6 if which == "transformer_report" else 3)
    # At most ~3 text lines a row (line-height ~1.2 em, plus the cell padding); the notes
    # column made rows of 40+ lines.
    assert max(heights) <= 3 * 1.2 * font + 12, heights
    assert scroll_width <= window_width  # the page itself does not scroll sideways
    html = page.read_text()
    assert "id='note-1'" in html and "href='#note-1'" in html


def test_a_slower_variant_is_said_slower_once(transformer_report):
    """The int8 variant carries the guardrail's note and the report's own flag (re-checked on
    the final figures): the page says it once, from the flag."""
    html = transformer_report.read_text()
    assert html.count("41.2 vs 30.5 ms") == 1  # the int8 row at batch 1
    assert "measured SLOWER" not in html
