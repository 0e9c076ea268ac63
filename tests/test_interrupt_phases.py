"""Interrupt a real `weightlight run` in calibration, ONNX export and report writing.

tests/pipeline/test_interrupt.py kills a run inside a fine-tuning stage; these cover the
other phases. A small launcher stalls the run at the chosen point (after writing a `ready`
file), the test sends SIGKILL or SIGINT from outside, then `--resume` must finish the run
with every earlier variant kept (name, creation time, artifact, scores), and no temporary or
partial file left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

import weightlight as wl

# Runs the CLI with one function replaced by a stall: `python launcher.py PHASE READY args...`.
LAUNCHER = """
import sys, time
from pathlib import Path

phase, ready, args = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]

def stall():
    ready.write_text(phase)
    time.sleep(600)

if phase == "calibration":  # feed one calibration batch, then stall mid-calibration
    import weightlight.quantize.static as static
    real = static.calibration_batches
    class Stalling(list):
        def __iter__(self):
            yield self[0]
            stall()
    static.calibration_batches = lambda *a, **k: Stalling(real(*a, **k))
elif phase == "export":  # stall half-way through writing the .onnx file
    import inspect
    import weightlight.export.onnx as export_onnx
    signature = inspect.signature(export_onnx._export)
    def half_written(*args, **kwargs):
        # Bound by name: a stub with a fixed argument list broke silently when _export grew
        # a `data` argument (the run then failed the stage and exited 1 before any stall).
        tmp = signature.bind(*args, **kwargs).arguments["path"]
        Path(tmp).write_bytes(b"\\x08\\x07" * 1000)
        stall()
    export_onnx._export = half_written
elif phase == "report":  # stall after report.json, before report.html
    import weightlight.report as report
    report.render_html = lambda *a, **k: stall()

from weightlight.cli import main
sys.argv = ["weightlight", *args]
main()
"""

RECIPES = {
    "calibration": [
        {"finetune": {"epochs": 0.2}, "name": "quick"},
        {"quantize": {"method": "static_int8", "batches": 2}, "name": "int8"},
    ],
    "export": [
        {"finetune": {"epochs": 0.2}, "name": "quick"},
        {"export": {"format": "onnx", "simplify": False, "optimize": "none"}, "name": "onnx"},
    ],
    "report": [{"finetune": {"epochs": 0.2}, "name": "quick"}],
}


def _records(out):
    path = out / "variants.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def _names(lines):
    return [json.loads(line)["name"] for line in lines]


@pytest.mark.slow  # several fresh processes (torch import + training each)
@pytest.mark.parametrize(
    "phase, sig",
    [
        ("calibration", signal.SIGINT),
        ("export", signal.SIGKILL),
        ("report", signal.SIGKILL),
    ],
)
def test_interrupted_phase_resumes_with_earlier_variants_intact(tmp_path, phase, sig):
    weights = wl.models.save_model(wl.models.mlp(), tmp_path / "w.safetensors")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": phase, "stages": RECIPES[phase], "baselines": False,
        "measure": {"batch_sizes": [1], "runs": 3, "warmup": 1},
    }))  # fmt: skip
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    ready, out = tmp_path / "ready", tmp_path / "run"
    args = ["run", str(recipe), "--model", "mlp", "--weights", str(weights), "--out", str(out)]
    # stdout to a file, not a pipe nobody reads: a failed stage is reported there, not on stderr
    log = tmp_path / "stdout.txt"
    with log.open("w") as stdout:
        proc = subprocess.Popen([sys.executable, str(launcher), phase, str(ready), *args],
                                cwd=tmp_path, stdout=stdout, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
    deadline = time.time() + 300
    while not ready.exists():
        assert proc.poll() is None, (
            f"run ended early ({proc.returncode}): {proc.stderr.read()}{log.read_text()[-2000:]}"
        )
        assert time.time() < deadline, "the run never reached the phase"
        time.sleep(0.1)
    os.kill(proc.pid, sig)
    code = proc.wait(timeout=120)
    if sig == signal.SIGINT:
        assert code == 130 and "--resume" in proc.stderr.read()
    else:
        assert code == -signal.SIGKILL

    before = _records(out)
    done = ["base", "quick"]
    assert _names(before) == done  # the interrupted variant was not recorded
    if phase != "report":
        name = RECIPES[phase][1]["name"]
        assert not list((out / "models").glob(f"{name}.*"))  # no partial artifact
    if phase == "export":  # SIGKILL mid-write: only the writer's hidden temp file is left
        assert [p.name.startswith(".onnx.onnx.") for p in out.rglob("*.tmp")] == [True]
    assert not (out / "report.html").exists()

    resumed = subprocess.run([sys.executable, "-m", "weightlight", *args, "--resume"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    after = _records(out)
    # Earlier records kept, not redone; only their timings move (the finished run re-times
    # every variant together, in rounds).
    assert [_kept(line) for line in after[: len(before)]] == [_kept(line) for line in before]
    assert _names(after) == done + [s["name"] for s in RECIPES[phase][1:]]
    assert all(json.loads(line)["status"] == "ok" for line in after)
    assert "quick: done earlier, kept" in resumed.stdout
    assert (out / "report.html").stat().st_size > 0 and json.loads(
        (out / "report.json").read_text()
    )
    assert not list(out.rglob("*.tmp"))  # a SIGKILL mid-write leaves one; resume clears it


def _kept(line: str) -> tuple:
    r = json.loads(line)
    m = r.get("measurement") or {}
    return (r["name"], r["created"], r.get("artifact"), m.get("metric"), m.get("size_bytes"))
