"""Search demos: a small BERT (transformers.BertConfig, random weights, token inputs).

The BERT is small but not tiny (hidden 256, 4 layers, 4 heads, FFN 1024, 128-token inputs,
~10M weights): at hidden 64 the int8 GEMMs were too small to beat ORT's fused fp32 kernels
(1.03x), which says nothing about the transformers people quantize.

Runs `wl.search(..., space="bert", metric="cosine", max_drop=1)`: the best plan must keep the
output cosine vs fp32 >= 0.99 while being faster than ONNX Runtime fp32 (measured here too,
same process, same threads). Prints ratios; timings on a shared machine are noisy.

    .venv/bin/python benchmarks/bench_search.py --trials 8 --out runs/search-bert
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

import weightlight as wl


def compare_cnn(default_dir: str, search_dir: str, threads: int, rounds: int = 5) -> None:
    """Paired re-timing of the default recipe's fast variants and the search's best (CNN).

    After `weightlight run default --out D` and `weightlight search --out S` on the same
    model file: `python benchmarks/bench_search.py --compare D S`.
    """
    import json

    data = wl.data.digits()
    best = json.loads(Path(search_dir, "search.json").read_text())["best"]
    variants = {v.name: v for v in wl.variants.read_variants(search_dir)}
    folder = Path(variants[best["name"]].config["folder"])
    pruned = wl.models.load_model(f"{default_dir}/models/pruned.safetensors")
    candidates = {
        "default pruned-int8 (torch)": _load_any(Path(default_dir), "pruned-int8"),
        "default pruned-onnx": wl.models.load_model(f"{default_dir}/models/pruned-onnx.onnx"),
        "default pruned-onnx-int8": wl.models.load_model(
            f"{default_dir}/models/pruned-onnx-int8.int8.onnx"
        ),
        f"search best t{best['trial']}": _load_any(
            folder, wl.variants.read_variants(folder)[-1].name
        ),
        "fp32 pruned (torch)": pruned,
    }  # fmt: skip
    times: dict[str, list[float]] = {k: [] for k in candidates}
    acc = {}
    for _ in range(rounds):  # interleaved rounds: load swings hit every candidate alike
        for name, m in candidates.items():
            rec = wl.measure(m, data, batch_sizes=(64,), threads=threads, runs=30, warmup=5)
            times[name].append(rec.latency[0].p50_ms)
            acc[name] = rec.metric
    for name in candidates:
        print(f"{name:34s} acc {acc[name]:.2f} %  p50 bs64 {statistics.median(times[name]):.3f} "
              f"ms (median of {rounds} paired rounds, {threads} threads)")  # fmt: skip


def _load_any(run_dir: Path, name: str):
    """A run's variant, reloaded from its artifact (torch int8 files are self-contained)."""
    variant = {v.name: v for v in wl.variants.read_variants(run_dir)}[name]
    return wl.models.load_model(run_dir / variant.artifact)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/search-bert")
    parser.add_argument("--compare", nargs=2, metavar=("DEFAULT_RUN", "SEARCH_DIR"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.compare:
        compare_cnn(*args.compare, threads=args.threads)
        return
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=1024, vocab_size=1000, num_labels=3,
                        attn_implementation="eager")  # fmt: skip
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    g = torch.Generator().manual_seed(0)
    ids, labels = torch.randint(0, 1000, (160, 128), generator=g), torch.randint(0, 3, (160,))
    data = wl.data.from_tensors(ids[:96], labels[:96], ids[96:], labels[96:], name="tokens",
                                batch_size=8)  # fmt: skip
    result = wl.search(model, data, space="bert", metric="cosine", max_drop=1.0,
                       objective="latency", trials=args.trials, out=args.out, seed=0)  # fmt: skip
    base_ms = wl.search.study.cost_of(result.base, "latency")
    # Paired timing: ORT fp32 and the best plan alternate in this process, 5 rounds each,
    # because single measurements on a shared machine swing by 30 % or more.
    ort_fp32 = wl.export(model, wl.export.Export(optimize="all"), data, f"{args.out}/fp32.onnx")
    best = result.best
    best_model = None
    if best is not None:
        folder = best.variant.config["folder"]
        best_model = wl.models.load_model(f"{folder}/{best.variant.artifact}")
    pairs = []
    for _ in range(5 if best_model is not None else 0):
        row = []
        for m in (ort_fp32, best_model):
            rec = wl.measure(m, data, batch_sizes=(8,), runs=50, warmup=10)
            row.append(rec.latency[0].p50_ms)
        pairs.append(row)
    ort = statistics.median(r[0] for r in pairs) if pairs else float("nan")
    paired_best = statistics.median(r[1] for r in pairs) if pairs else float("nan")
    # Which Linear layers are fragile under torch dynamic int8 (the advisor's figure)
    fragile = wl.search.quantization_sensitivity(model, data, wl.quantize.Dynamic())
    print("most fragile Linear layers (output cosine, quantized alone):",
          ", ".join(f"{n} {c:.5f}" for n, c in fragile[:3]))  # fmt: skip
    for t in sorted(result.trials, key=lambda t: t.number):
        print(
            f"trial {t.number}: {t.params} cosine {100 - t.metric_drop:.3f} (x100) "
            f"{t.cost:.4f} ms ({base_ms / t.cost:.2f}x vs torch fp32)"
        )
    for number, error in result.failed:
        print(f"trial {number} failed: {error}")
    if result.best:
        b = result.best
        print(
            f"best: trial {b.number} {b.params}: cosine {(100 - b.metric_drop) / 100:.5f}, "
            f"{b.cost:.4f} ms, {base_ms / b.cost:.2f}x vs torch fp32 eager"
        )
        print(
            f"  paired, batch 8, {args.threads} threads, median of 5 rounds: ORT fp32 "
            f"{ort:.4f} ms, best {paired_best:.4f} ms -> {ort / paired_best:.2f}x faster"
        )


if __name__ == "__main__":
    main()
