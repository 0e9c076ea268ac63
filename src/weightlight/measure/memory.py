"""Peak memory, one method for every runtime: a forked child's resident-set high-water mark.

Inside one long-lived process the resident set barely moves for a new model (pages freed by
earlier models and tensors are reused: measured ~8 KB for a 4.8 MB ONNX model), and counting
live tensors sees torch's allocations but not a native runtime's arenas. So each variant is
measured the same way, whatever runs it:

    fork a child (1 intra-op thread) -> reset its RSS high-water mark (/proc/self/clear_refs=5)
    -> child builds its own copy of the model (torch: deepcopy of the module; ONNX Runtime: a
       new session from the file) and runs one batch
    -> peak = VmHWM - VmRSS before the copy (weights, runtime arenas, activations)

The child inherits the parent's pages, but those are already resident before the reset, so
only what this model allocates is counted. One thread, because a forked child must not start
an OpenMP pool the parent owns, and it makes runtimes comparable; thread-local scratch buffers
(a few KB to MB per extra thread) are therefore not included. Linux only (other systems:
not measured, said so).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import struct
from collections.abc import Callable
from pathlib import Path

METHOD = (
    "fresh forked process, 1 thread: VmHWM - VmRSS (/proc, after clear_refs=5) while it builds "
    "its own copy of the model (torch: deepcopy; ONNX Runtime: new session from the file) and "
    "runs one batch-{batch} forward"
)


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(f"{field} not in /proc/self/status")


def available() -> bool:
    return hasattr(os, "fork") and Path("/proc/self/clear_refs").exists()


def forked_peak(
    build_and_run: Callable[[], object], batch: int, timeout_s: float = 300.0
) -> tuple[int | None, str]:
    """(peak bytes, method) of `build_and_run()` in a forked child; (None, why) if impossible.

    Example:
        >>> peak, how = forked_peak(lambda: bytearray(50_000_000), batch=1)
        >>> peak > 50_000_000
        True
    """
    if not available():
        return None, "not measured: needs Linux fork and /proc/self/clear_refs"
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, write 8 bytes, exit without running parent cleanups
        code = 1
        try:
            os.close(read_end)
            import torch

            torch.set_num_threads(1)
            Path("/proc/self/clear_refs").write_text("5")
            before = _status("VmRSS")
            kept = build_and_run()  # keep the result alive until VmHWM is read
            peak = _status("VmHWM") - before
            os.write(write_end, struct.pack("<q", peak))
            del kept
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], timeout_s)
        data = os.read(read_end, 8) if ready else b""
    finally:
        os.close(read_end)
        if not data:
            _kill(pid)
        _, status = os.waitpid(pid, 0)
    if len(data) != 8 or os.waitstatus_to_exitcode(status) != 0:
        return None, "not measured: the measuring child process failed"
    return struct.unpack("<q", data)[0], METHOD.format(batch=batch)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
