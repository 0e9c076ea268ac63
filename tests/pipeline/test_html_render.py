"""The HTML report renders in a real browser with its plots (headless Chromium)."""

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import weightlight as wl
from weightlight.recipe import parse_recipe

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
