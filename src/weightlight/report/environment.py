"""Where a run was measured: CPU, cores, threads, library versions (shown in the report)."""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import os
import platform
from pathlib import Path

_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8",
                      "avx512_fp16", "avx_vnni")  # fmt: skip


def environment() -> dict[str, str]:
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "cpu flags": " ".join(f for f in _FLAGS_OF_INTEREST if f in _cpu_flags()) or "-",
    }
    for pkg in ("weightlight", "torch", "onnxruntime", "onnx", "torch-pruning", "transformers"):
        with contextlib.suppress(md.PackageNotFoundError):
            env[pkg] = md.version(pkg)
    return env


def _cpuinfo() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/cpuinfo").read_text()
    return ""


def _cpu_model() -> str:
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _cpu_flags() -> set[str]:
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()
