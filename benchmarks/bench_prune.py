"""Structured pruning vs unpruned fp32, side by side in one run (seed CNN and small ResNet).

Trains each model on digits, prunes 50 % of channels with a short fine-tune, then measures
both with `wl.measure` (same process, same threads): params, MACs, zipped size, latency p50 at
batch 1 and 64 with ratios, accuracy. Also shows 80 % global unstructured (size only helps).
Goal: bs64 latency >= 1.7x faster, params and MACs >= 3x smaller, accuracy within 1 point.

    .venv/bin/python benchmarks/bench_prune.py --threads 2 --runs 50
"""

from __future__ import annotations

import argparse
import time

import torch

import weightlight as wl
from weightlight.config import Finetune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--finetune-epochs", type=float, default=5)
    parser.add_argument("--finetune-lr", type=float, default=3e-3)
    parser.add_argument("--models", default="mnist_cnn,resnet_small")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = wl.data.digits(seed=0)
    epochs = {"mnist_cnn": 15, "resnet_small": 10}
    print(f"torch {torch.__version__}, {args.threads} threads, {args.runs} timed runs "
          f"after 10 warm-up, median (p50) latency")  # fmt: skip
    for name in args.models.split(","):
        base = wl.train(wl.models.create(name), data, epochs=epochs.get(name, 10), progress=False)
        t0 = time.perf_counter()
        finetune = Finetune(epochs=args.finetune_epochs, lr=args.finetune_lr)
        structured = wl.prune(base, wl.prune.Structured(ratio=0.5, finetune=finetune), data)
        prune_s = time.perf_counter() - t0
        sparse = wl.prune(base, wl.prune.Unstructured(ratio=0.8), data)
        rows = [
            wl.measure(m, data, name=n, threads=args.threads, runs=args.runs)
            for n, m in (("fp32", base), ("structured50+ft", structured), ("unstruct80", sparse))
        ]
        print(f"\n{name}: structured prune + {args.finetune_epochs} ft epochs took {prune_s:.1f} s")
        print(_table(rows))


def _table(rows: list[wl.Measurement]) -> str:
    base = rows[0]
    head = (f"{'variant':<16}{'params':>10}{'nonzero':>10}{'MACs':>12}{'zip KB':>9}"
            f"{'bs1 ms':>9}{'bs64 ms':>9}{'acc %':>8}")  # fmt: skip
    lines = [head]
    for r in rows:
        b1, b64 = r.latency_at(1).p50_ms, r.latency_at(64).p50_ms
        lines.append(
            f"{r.name:<16}{r.params:>10,}{r.nonzero_params:>10,}{r.macs:>12,}"
            f"{r.size_zipped_bytes / 1e3:>9.1f}{b1:>9.3f}{b64:>9.3f}{r.metric:>8.2f}"
        )
        if r is not base:
            lines.append(
                f"{'  ratio vs fp32':<16}{base.params / r.params:>9.2f}x"
                f"{base.nonzero_params / r.nonzero_params:>9.2f}x{base.macs / r.macs:>11.2f}x"
                f"{base.size_zipped_bytes / r.size_zipped_bytes:>8.2f}x"
                f"{base.latency_at(1).p50_ms / b1:>8.2f}x{base.latency_at(64).p50_ms / b64:>8.2f}x"
                f"{r.metric - base.metric:>+8.2f}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
