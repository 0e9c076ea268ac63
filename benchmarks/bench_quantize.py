"""Every quantization method vs fp32 eager on the seed CNN, in one run (same process, threads).

Rows: fp32 eager, bf16, fp16, dynamic int8, static int8 per calibration method (minmax,
percentile, entropy, mse), static int8 with per-tensor weights, weight-only int8 / int4,
QAT int8, and, as a peer, torchao PT2E static int8 (X86InductorQuantizer, not lowered).
Each is measured by `wl.measure` (p50 latency at batch 1 and 64, artifact size, accuracy);
the table shows ratios vs fp32. Because the machine is shared, the final lines time each
variant back to back with fp32 in several rounds and report median paired ratios.
Goal: static int8 >= 2x faster at batch 64, >= 3.5x smaller.

Run by hand (a shared machine is noisy: read the ratios, rerun to confirm):

    .venv/bin/python benchmarks/bench_quantize.py --threads 2 --runs 50

The seed CNN is trained once (15 epochs, seed 0) and cached in --cache.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
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
    example = (data.example_batch(2),)
    batch = ({0: torch.export.Dim.AUTO},)
    exported = torch.export.export(copy.deepcopy(model).eval(), example, dynamic_shapes=batch)
    exported = exported.module()
    prepared = prepare_pt2e(exported, quantizer)
    for x, _ in data.calib:
        prepared(x)
    from torchao.quantization.pt2e import allow_exported_model_train_eval

    # wl.measure calls .eval(); exported models refuse it unless allowed.
    converted = convert_pt2e(prepared)
    allow_exported_model_train_eval(converted)
    return _Wrapped(converted)


class _Wrapped(torch.nn.Module):
    """An exported model's own .eval() returns None; wrapping it gives wl.measure a module."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def paired_speedups(
    models: dict[str, torch.nn.Module], data: wl.data.Data, rounds: int, runs: int
) -> dict[str, dict[int, float]]:
    """Median over rounds of (fp32 time / variant time), each round timing every model back
    to back, so load from other processes on a shared machine hits both sides of a ratio."""
    fp32 = models["fp32 eager"]
    ratios: dict[str, dict[int, list[float]]] = {n: {1: [], 64: []} for n in models}
    for _ in range(rounds):
        for bs in (1, 64):
            x = data.example_batch(bs)
            for name, model in models.items():
                base, var = _median_ms(fp32, x, runs), _median_ms(model, x, runs)
                ratios[name][bs].append(base / var)
    return {n: {bs: statistics.median(v) for bs, v in r.items()} for n, r in ratios.items()}


def _median_ms(model: torch.nn.Module, x: torch.Tensor, runs: int) -> float:
    x = x.to(next((p.dtype for p in model.parameters() if p.is_floating_point()), x.dtype))
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="Paired timing rounds.")
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

    models = {"fp32 eager": base}
    for name, config in configs(args.qat_epochs).items():
        models[name] = Q(base, config, data)
    if not args.no_peers:
        try:
            models["peer: torchao pt2e int8"] = pt2e_static(base, data)
        except Exception as exc:  # a peer failing must not hide our own rows
            console.print(f"peer torchao pt2e failed: {type(exc).__name__}: {exc}"[:200])
    rows = []
    for name, m in list(models.items()):
        try:
            rows.append(measure(m, name))
        except Exception as exc:  # only the peer may fail; our rows must not
            if not name.startswith("peer"):
                raise
            console.print(f"{name} not measurable: {type(exc).__name__}: {exc}"[:200])
            del models[name]
    rows.append(measure(base, "fp32 eager (again)"))  # drift check on a shared machine
    console.print(measurement_table(rows, baseline=rows[0], title="quantization on the seed CNN"))
    paired = paired_speedups(models, data, args.rounds, max(5, args.runs // 5))
    console.print(f"paired speed-ups vs fp32 eager (median of {args.rounds} back-to-back rounds):")
    fp32 = rows[0]
    for m in rows[1:-1]:
        b1, b64 = paired[m.name][1], paired[m.name][64]
        console.print(f"{m.name:28s} speed-up bs1 {b1:5.2f}x  bs64 {b64:5.2f}x  "
                      f"size {fp32.size_bytes / m.size_bytes:5.2f}x smaller  "
                      f"acc {m.metric:6.2f} ({m.metric - fp32.metric:+.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
