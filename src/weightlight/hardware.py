"""What the CPU can do fast, and the quantization settings chosen from it: the one place that
decides per machine.

Read from /proc/cpuinfo (Linux): x86 `flags` lines and ARM64 `Features` lines. Elsewhere every
flag reads False, which only makes the choices conservative. `WEIGHTLIGHT_CPUINFO=<file>` reads
another machine's cpuinfo text instead, so an emulated run (docs/hardware.md) takes that
machine's branch.

Why the int8 settings differ by CPU: x86 int8 kernels multiply uint8 activations by int8
weights. Without VNNI they use VPMADDUBSW, which adds two u8*s8 products into a saturating
int16: 255*127*2 overflows it. Keeping one side to 7 bits (`reduce_range`) cannot overflow;
torch's fbgemm/x86 backend narrows the activations, ONNX Runtime narrows the weights. With
VNNI / AMX the products accumulate in int32 and the full 8 bits are safe (and more accurate).
ARM64 runs torch int8 on QNNPACK, which has no such overflow.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from weightlight.errors import UserError

CPUINFO_ENV = "WEIGHTLIGHT_CPUINFO"

# x86 flags and ARM64 features that decide low-precision speed (others are ignored).
_X86 = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8",
        "avx512_fp16", "amx_fp16")  # fmt: skip
_ARM = ("asimd", "asimddp", "asimdhp", "bf16", "i8mm", "sve")


@dataclass(frozen=True)
class CpuFeatures:
    """CPU model name, architecture and the flags relevant to low-precision inference."""

    model_name: str
    arch: Literal["x86_64", "arm64", "unknown"]
    flags: frozenset[str]

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def fast_bf16(self) -> bool:
        """bf16 matmuls run natively (AVX512-BF16 / AMX, ARM BF16), so bf16 can beat fp32."""
        return bool(self.flags & {"avx512_bf16", "amx_bf16"}) or (
            self.arch == "arm64" and self.has("bf16")
        )

    @property
    def fast_fp16(self) -> bool:
        """fp16 arithmetic runs natively; without it fp16 is emulated and slower than fp32."""
        return bool(self.flags & {"avx512_fp16", "amx_fp16"}) or (
            self.arch == "arm64" and self.has("asimdhp")
        )

    @property
    def fast_int8(self) -> bool:
        """int8 dot products accumulate in int32 in one instruction (VNNI / AMX / dotprod)."""
        return bool(self.flags & {"avx512_vnni", "avx_vnni", "amx_int8"}) or (
            self.arch == "arm64" and self.has("asimddp")
        )

    @property
    def isa(self) -> str:
        """The int8 instruction path in words, e.g. 'x86 AVX-512 VNNI' or 'x86 AVX2'."""
        if self.arch == "arm64":
            return "ARM64 NEON dotprod" if self.has("asimddp") else "ARM64 NEON"
        if self.arch != "x86_64":
            return "unknown CPU"
        for flag, name in (("amx_int8", "AMX"), ("avx512_vnni", "AVX-512 VNNI"),
                           ("avx_vnni", "AVX-VNNI"), ("avx2", "AVX2")):  # fmt: skip
            if self.has(flag):
                return f"x86 {name}"
        return "x86 (no AVX2)"

    def summary(self) -> str:
        """One line, e.g. 'AMD EPYC ...: x86 AVX2, bf16 slow (emulated), fp16 slow (emulated)'."""
        return (
            f"{self.model_name}: {self.isa}, "
            f"bf16 {'native' if self.fast_bf16 else 'slow (emulated)'}, "
            f"fp16 {'native' if self.fast_fp16 else 'slow (emulated)'}"
        )


@dataclass(frozen=True)
class QuantSettings:
    """The quantization settings chosen for one CPU (`quant_settings()`); configs whose fields
    are left at None take them from here, and a recipe may still set any of them explicitly."""

    cpu: str  # CpuFeatures.isa
    torch_backend: Literal["x86", "qnnpack"]
    reduce_range: bool  # torch: 7-bit activations; ORT: 7-bit weights (see module docstring)
    torch_per_channel: bool
    ort_activations: Literal["uint8", "int8"]
    ort_weights: Literal["int8", "uint8"]
    ort_per_channel: bool
    bf16_native: bool
    fp16_native: bool

    def describe(self, reduce_range: bool | None = None) -> str:
        """'x86 AVX2, reduce range on' (the detected choice, or a forced `reduce_range`)."""
        chosen = self.reduce_range if reduce_range is None else reduce_range
        forced = reduce_range is not None and reduce_range != self.reduce_range
        return f"{self.cpu}, reduce range {'on' if chosen else 'off'}" + (
            " (forced)" if forced else ""
        )

    def half_note(self, dtype: str) -> str | None:
        """A warning when `dtype` ('bf16' / 'fp16') is emulated on this CPU, else None."""
        native = self.bf16_native if dtype == "bf16" else self.fp16_native
        if native:
            return None
        return (
            f"{dtype} is not native on this CPU ({self.cpu}): emulated, expect it slower than "
            f"fp32 (half the bytes still)"
        )


def stage_precision(config: dict) -> tuple[str | None, tuple[str, ...]]:
    """For a stage's config (as variants.jsonl records it): the int8 path it took ('x86 AVX2,
    reduce range on'; None when it made no int8 model) and notes on an emulated bf16/fp16."""
    settings = quant_settings()
    method, export_int8 = config.get("method"), config.get("quantize")
    if method == "half":
        note = settings.half_note(config.get("dtype", "bf16"))
        return None, (note,) if note else ()
    if method == "dynamic_int8":  # torch's dynamic Linear always narrows activations to 7 bits
        return f"{settings.cpu}, reduce range on (torch dynamic int8 always)", ()
    if method in ("static_int8", "qat", "ort_static_int8", "ort_dynamic_int8") or export_int8:
        return settings.describe(config.get("reduce_range")), ()
    return None, ()


def choose_settings(cpu: CpuFeatures) -> QuantSettings:
    """The quantization settings for `cpu` (pure, so every branch is testable anywhere)."""
    arm = cpu.arch == "arm64"
    return QuantSettings(
        cpu=cpu.isa,
        torch_backend="qnnpack" if arm else "x86",
        # QNNPACK accumulates in int32 on ARM; x86 without VNNI saturates int16 pairs.
        reduce_range=not arm and not cpu.fast_int8,
        # QNNPACK's per-channel conv support is limited; fbgemm/oneDNN have it.
        torch_per_channel=not arm,
        # U8S8 measured 3-4x faster than S8S8 on x86 (docs/onnx.md); on ARM64 ORT's MLAS
        # has S8S8 dot-product kernels and S8S8 is ORT's QDQ default (not measured here).
        ort_activations="int8" if arm else "uint8",
        ort_weights="int8",
        ort_per_channel=True,
        bf16_native=cpu.fast_bf16,
        fp16_native=cpu.fast_fp16,
    )


def parse_cpuinfo(text: str) -> CpuFeatures:
    """CpuFeatures from the text of /proc/cpuinfo (the first processor's entry).

    Example:
        >>> parse_cpuinfo("model name : X\\nflags : avx2 avx512_vnni avx512_bf16\\n").isa
        'x86 AVX-512 VNNI'
    """
    name, flags, arch = "", None, "unknown"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "Hardware") and not name:
            name = value.strip()
        elif key == "flags" and flags is None:
            flags, arch = set(value.split()) & set(_X86), "x86_64"
        elif key == "Features" and flags is None:
            flags, arch = set(value.split()) & set(_ARM), "arm64"
        elif key == "CPU implementer" and not name:
            name = f"ARM CPU (implementer {value.strip()})"
    return CpuFeatures(name or "unknown CPU", arch, frozenset(flags or ()))  # type: ignore[arg-type]


def cpu_features() -> CpuFeatures:
    """This machine's CpuFeatures, or those of the cpuinfo file named by WEIGHTLIGHT_CPUINFO."""
    return _read(os.environ.get(CPUINFO_ENV) or "/proc/cpuinfo")


def quant_settings() -> QuantSettings:
    """The quantization settings for this machine (or the WEIGHTLIGHT_CPUINFO override)."""
    return choose_settings(cpu_features())


@functools.cache
def _read(path: str) -> CpuFeatures:
    try:
        return parse_cpuinfo(Path(path).read_text())
    except OSError as exc:
        if path == "/proc/cpuinfo":  # not Linux: no flags (conservative), the arch from Python
            machine = platform.machine().lower()
            arch = "arm64" if machine in ("arm64", "aarch64") else "unknown"
            return CpuFeatures(platform.processor() or "unknown CPU", arch, frozenset())
        raise UserError(
            f"{CPUINFO_ENV}={path} cannot be read ({exc.strerror or exc})",
            f"point it at a saved /proc/cpuinfo text, or unset {CPUINFO_ENV}",
        ) from None
