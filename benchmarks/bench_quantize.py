"""Every quantization method vs fp32 eager on the seed CNN, in one run (same process, threads).

Rows: fp32 eager, bf16, fp16, dynamic int8, static int8 per calibration method (minmax,
percentile, entropy, mse), static int8 with per-tensor weights, weight-only int8 / int4,
QAT int8, and, as a peer, torchao PT2E static int8 (X86InductorQuantizer, not lowered).
Each is measured by `wl.measure` (p50 latency at batch 1 and 64, artifact size, accuracy);
the table shows ratios vs fp32. Goal: static int8 >= 2x faster at batch 64, >= 3.5x smaller.

Run by hand (a shared machine is noisy: read the ratios, rerun to confirm):

    .venv/bin/python benchmarks/bench_quantize.py --threads 2 --runs 50

The seed CNN is trained once (15 epochs, seed 0) and cached in --cache.
"""

from __future__ import annotations

import argparse
import copy
import warnings
from pathlib import Path

import torch
from rich.console import Console

import weightlight as wl
from weightlight.config import Finetune
from weightlight.hardware import cpu_features
from weightlight.report.table import measurement_table

Q = wl.quantize


def configs(qat_epochs: float) -> dict[str, object]:
    """Row name -> quantization config, in run order."""
    rows: dict[str, object] = {"bf16": Q.Half(dtype="bf16"), "fp16": Q.Half(dtype="fp16")}
    rows["dynamic int8"] = Q.Dynamic()
    for method in ("minmax", "percentile", "entropy", "mse"):
        rows[f"static int8 {method}"] = Q.StaticInt8(calibration=method)
    rows["static int8 per-tensor w"] = Q.StaticInt8(per_channel=False)
    rows["weight-only int8"] = Q.WeightOnly(bits=8, group_size=32)
    rows["weight-only int4"] = Q.WeightOnly(bits=4, group_size=32)
    rows["qat int8"] = Q.QAT(finetune=Finetune(epochs=qat_epochs, lr=5e-4))
    return rows


def pt2e_static(model: torch.nn.Module, data: wl.data.Data) -> torch.nn.Module:
    """Peer: torchao PT2E static int8 with the x86 inductor quantizer, not lowered."""
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = xiq.X86InductorQuantizer().set_global(
        xiq.get_default_x86_inductor_quantization_config()
    )
    exported = torch.export.export(copy.deepcopy(model).eval(), (data.example_batch(2),)).module()
    prepared = prepare_pt2e(exported, quantizer)
    for x, _ in data.calib:
        prepared(x)
    return convert_pt2e(prepared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--qat-epochs", type=float, default=1.0)
    parser.add_argument("--cache", type=Path, default=Path("runs/bench_quantize"))
    parser.add_argument("--no-peers", action="store_true", help="Skip the torchao PT2E row.")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    console = Console(width=200)
    engine = torch.backends.quantized.engine
    console.print(f"CPU: {cpu_features().summary()}; torch {torch.__version__}, "
                  f"quantized engine {engine}, {args.threads} threads")  # fmt: skip

    data = wl.data.digits(seed=0)
    weights = args.cache / "cnn.safetensors"
    if weights.exists():
        base = wl.models.load_model(weights).eval()
    else:
        base = wl.train(wl.models.mnist_cnn(), data, seed=0, progress=False)
        wl.models.save_model(base, weights)

    def measure(model, name):
        return wl.measure(model, data, name=name, threads=args.threads, runs=args.runs)

    rows = [measure(base, "fp32 eager")]
    for name, config in configs(args.qat_epochs).items():
        rows.append(measure(Q(base, config, data), name))
    if not args.no_peers:
        try:
            rows.append(measure(pt2e_static(base, data), "peer: torchao pt2e int8"))
        except Exception as exc:  # a peer failing must not hide our own rows
            console.print(f"peer torchao pt2e failed: {type(exc).__name__}: {exc}"[:200])
    rows.append(measure(base, "fp32 eager (again)"))  # drift check on a shared machine
    console.print(measurement_table(rows, baseline=rows[0], title="quantization on the seed CNN"))
    fp32 = rows[0]
    for m in rows[1:]:
        b1, b64 = (fp32.latency_at(b).p50_ms / m.latency_at(b).p50_ms for b in (1, 64))
        console.print(f"{m.name:28s} speed-up bs1 {b1:5.2f}x  bs64 {b64:5.2f}x  "
                      f"size {fp32.size_bytes / m.size_bytes:5.2f}x smaller  "
                      f"acc {m.metric:6.2f} ({m.metric - fp32.metric:+.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
