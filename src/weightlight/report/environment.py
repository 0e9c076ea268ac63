"""Where a run was measured: CPU, cores, threads, library versions (shown in the report)."""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import os
import platform

from weightlight.hardware import CPUINFO_ENV, cpu_features, quant_settings


def environment() -> dict[str, str]:
    cpu, settings = cpu_features(), quant_settings()
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu.model_name,
        "cores": str(os.cpu_count()),
        "cpu flags": " ".join(sorted(cpu.flags)) or "-",
        "int8 path": settings.describe(),
        "bf16 / fp16": f"{'native' if settings.bf16_native else 'emulated'} / "
        f"{'native' if settings.fp16_native else 'emulated'}",
    }
    if os.environ.get(CPUINFO_ENV):
        env["cpu read from"] = f"{CPUINFO_ENV}={os.environ[CPUINFO_ENV]}"
    for pkg in ("weightlight", "torch", "onnxruntime", "onnx", "torch-pruning", "transformers"):
        with contextlib.suppress(md.PackageNotFoundError):
            env[pkg] = md.version(pkg)
    return env
