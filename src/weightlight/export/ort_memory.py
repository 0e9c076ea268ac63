"""Peak memory of an ONNX Runtime model: a fresh Python process loads it and runs one batch.

Within one long-lived process the resident set barely grows for a new session (pages freed
by earlier sessions and tensors are reused), so the child process is the honest measurement:
it imports onnxruntime, resets its RSS high-water mark (`/proc/self/clear_refs`, Linux), then
creates the session and runs the batch; VmHWM minus the RSS before is the model's cost
(weights, ORT arenas, activations).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, sys
from pathlib import Path
import numpy as np
import onnxruntime as ort

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

model, batch, level, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with np.load(batch) as arrays:
    feeds = {name: arrays[name] for name in arrays.files}
Path("/proc/self/clear_refs").write_text("5")
before = status("VmRSS")
opts = ort.SessionOptions()
opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
opts.log_severity_level = 3
if threads:
    opts.intra_op_num_threads = threads
s = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
s.run(None, feeds)
print(json.dumps({"peak": status("VmHWM") - before}))
"""

_LEVELS = {"none": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
           "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}  # fmt: skip


def fresh_process_peak(
    path: Path, feeds: dict[str, np.ndarray], optimize: str, threads: int | None
) -> tuple[int | None, str]:
    """(peak bytes, method) or (None, why) where /proc is unavailable or the child fails.

    `feeds` are the session's input arrays by name (`OrtModel.feeds`).
    """
    if not Path("/proc/self/clear_refs").exists():
        return None, "not measured: needs Linux /proc/self/clear_refs"
    with tempfile.TemporaryDirectory(prefix="wl-mem-") as tmp:
        batch = Path(tmp) / "batch.npz"
        np.savez(batch, **feeds)
        args = [str(path), str(batch), _LEVELS[optimize], str(threads or 0)]
        try:
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, *args],
                capture_output=True, text=True, timeout=300, check=True,
            )  # fmt: skip
            peak = int(json.loads(done.stdout.strip().splitlines()[-1])["peak"])
        except (subprocess.SubprocessError, ValueError, KeyError, IndexError):
            return None, "not measured: the measuring subprocess failed"
    return peak, (
        f"fresh process: VmHWM - VmRSS (/proc, after clear_refs=5) while a new ORT session "
        f"loads the model and runs one batch-{len(next(iter(feeds.values())))} forward"
    )
