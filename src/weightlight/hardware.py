"""What the CPU can do fast: the instruction-set flags that decide bf16 / fp16 / int8 speed.

Read from /proc/cpuinfo (Linux); elsewhere every flag reads False, which only makes advice
conservative. Used by quantization (is bf16 worth it?) and by the energy / advisor code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

_FLAGS = ("avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni", "avx512_fp16", "amx_int8")


@dataclass(frozen=True)
class CpuFeatures:
    """CPU model name and the flags relevant to low-precision inference."""

    model_name: str
    avx512_bf16: bool
    amx_bf16: bool
    avx512_vnni: bool
    avx_vnni: bool
    avx512_fp16: bool
    amx_int8: bool

    @property
    def fast_bf16(self) -> bool:
        """bf16 matmuls run natively (AVX512-BF16 or AMX), so bf16 beats fp32."""
        return self.avx512_bf16 or self.amx_bf16

    @property
    def fast_fp16(self) -> bool:
        """fp16 arithmetic runs natively; without it fp16 is emulated and slower than fp32."""
        return self.avx512_fp16

    @property
    def fast_int8(self) -> bool:
        """int8 dot products in one instruction (VNNI / AMX), the basis of int8 speed-ups."""
        return self.avx512_vnni or self.avx_vnni or self.amx_int8

    def summary(self) -> str:
        """One line, e.g. 'AMD EPYC ...: bf16 fast, fp16 slow (emulated), int8 VNNI'."""
        return (
            f"{self.model_name}: bf16 {'fast' if self.fast_bf16 else 'slow'}, "
            f"fp16 {'fast' if self.fast_fp16 else 'slow (emulated)'}, "
            f"int8 {'VNNI/AMX' if self.fast_int8 else 'no VNNI'}"
        )


def parse_cpuinfo(text: str) -> CpuFeatures:
    """CpuFeatures from the text of /proc/cpuinfo (the first processor's entry).

    Example:
        >>> parse_cpuinfo("model name : X\\nflags : avx512_vnni avx512_bf16\\n").fast_bf16
        True
    """
    name, flags = "unknown CPU", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and name == "unknown CPU":
            name = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return CpuFeatures(name, **{f: f in flags for f in _FLAGS})


@functools.cache
def cpu_features() -> CpuFeatures:
    """This machine's CpuFeatures (read once)."""
    path = Path("/proc/cpuinfo")
    try:
        return parse_cpuinfo(path.read_text())
    except OSError:
        return parse_cpuinfo("")
