"""int8 with the settings weightlight chose for this CPU vs the opposite settings, in one run.

For the seed CNN and the small ResNet (trained on digits, cached), each of torch static int8
(FX, x86 / QNNPACK backend) and ONNX Runtime static int8 (QDQ) is made four ways:
reduce_range on / off x per-channel on / off. The row marked `*` is what `weightlight.hardware`
chose here. Columns: accuracy on the 360 digits test images (fp32 eager is the reference),
top-1 agreement with fp32, p50 / p90 latency at batch 64 and the speed-up vs fp32 eager
(timed in the same process, same threads; ORT sessions do not spin between runs).

Why it matters: on x86 CPUs without VNNI, u8*s8 products saturate int16 unless one side uses
7 bits (reduce_range); with VNNI, the full 8 bits are safe and more precise (docs/hardware.md).

Run by hand (a shared machine is noisy: read the ratios, rerun to confirm):

    .venv/bin/python benchmarks/bench_int8_settings.py --threads 2 --runs 30

To take another CPU's branch of the chooser (the kernels stay this CPU's, see docs/hardware.md):
`WEIGHTLIGHT_CPUINFO=tests/cpuinfo/x86_avx2.txt`.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

import weightlight as wl
from weightlight.export.onnx import export_onnx
from weightlight.hardware import cpu_features, quant_settings

SETTINGS = [(rr, pc) for rr in (True, False) for pc in (True, False)]


def trained(name: str, data: wl.data.Data, cache: Path, epochs: float) -> torch.nn.Module:
    weights = cache / f"{name}.safetensors"
    if weights.exists():
        return wl.models.load_model(weights).eval()
    torch.manual_seed(0)
    model = wl.train(wl.models.create(name), data, epochs=epochs, seed=0, progress=False)
    wl.models.save_model(model, weights)
    return model.eval()


def variants(model: torch.nn.Module, data: wl.data.Data, folder: Path):
    """(row name, model, reduce_range, per_channel) for every setting of both runtimes."""
    fp32_onnx = export_onnx(model, data, folder / "fp32.onnx", optimize="all")
    for rr, pc in SETTINGS:
        config = wl.quantize.StaticInt8(calibration="percentile", reduce_range=rr, per_channel=pc)
        yield "torch static int8", wl.quantize(model, config, data), rr, pc
    for rr, pc in SETTINGS:
        config = wl.export.OrtStaticInt8(calibration="percentile", reduce_range=rr, per_channel=pc)
        path = folder / f"int8-rr{int(rr)}-pc{int(pc)}.onnx"
        yield "ORT static int8", wl.export.quantize_onnx(fp32_onnx, data, path, config), rr, pc
    yield "ORT fp32", fp32_onnx, None, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--models", default="mnist_cnn,resnet_small")
    parser.add_argument("--epochs", type=float, default=15)
    parser.add_argument("--cache", type=Path, default=Path("runs/bench_int8_settings"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    console = Console(width=160)
    chosen = quant_settings()
    console.print(f"CPU: {cpu_features().summary()}; chosen: {chosen.describe()}, per-channel "
                  f"{'on' if chosen.torch_per_channel else 'off'} (torch), "
                  f"{'on' if chosen.ort_per_channel else 'off'} (ORT); torch {torch.__version__}, "
                  f"{args.threads} threads, {args.runs} timed runs")  # fmt: skip
    data = wl.data.digits(seed=0)
    args.cache.mkdir(parents=True, exist_ok=True)
    for name in args.models.split(","):
        model = trained(name, data, args.cache, args.epochs)
        fp32 = wl.measure(model, data, name="fp32", batch_sizes=(64,), threads=args.threads,
                          runs=args.runs)  # fmt: skip
        fp32_ms = fp32.latency_at(64).p50_ms
        title = f"{name}: int8 settings (fp32 eager {fp32.metric:.2f} %, {fp32_ms:.2f} ms at bs64)"
        table = Table(title=title, header_style="bold")
        for col in ("runtime", "reduce range", "per-channel", "accuracy %", "vs fp32 pt",
                    "agree % w/ fp32", "p50 ms", "p90 ms", "speed-up"):  # fmt: skip
            table.add_column(col, justify="left" if col == "runtime" else "right")
        with tempfile.TemporaryDirectory() as tmp:
            for runtime, made, rr, pc in variants(model, data, Path(tmp)):
                m = wl.measure(made, data, name=runtime, batch_sizes=(64,), threads=args.threads,
                               runs=args.runs)  # fmt: skip
                agree = wl.export.parity(model, made, data, tolerance=1.0).top1_agreement
                p = m.latency_at(64)
                per_channel = chosen.torch_per_channel if runtime.startswith("torch") else (
                    chosen.ort_per_channel)  # fmt: skip
                mark = " *" if (rr, pc) == (chosen.reduce_range, per_channel) else ""
                table.add_row(
                    runtime + mark, _onoff(rr), _onoff(pc), f"{m.metric:.2f}",
                    f"{m.metric - fp32.metric:+.2f}", f"{agree:.2f}", f"{p.p50_ms:.2f}",
                    f"{p.p90_ms:.2f}", f"{fp32_ms / p.p50_ms:.2f}x",
                )  # fmt: skip
        console.print(table)
    console.print("* = the settings weightlight chose for this CPU (weightlight.hardware)")


def _onoff(flag: bool | None) -> str:
    return "-" if flag is None else ("on" if flag else "off")


if __name__ == "__main__":
    main()
