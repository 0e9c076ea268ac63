"""Search demo on a small BERT (transformers.BertConfig, random weights, token inputs).

Runs `wl.search(..., space="bert", metric="cosine", max_drop=1)`: the best plan must keep the
output cosine vs fp32 >= 0.99 while being faster than ONNX Runtime fp32 (measured here too,
same process, same threads). Prints ratios; timings on a shared machine are noisy.

    .venv/bin/python benchmarks/bench_search.py --trials 8 --out runs/search-bert
"""

from __future__ import annotations

import argparse

import torch

import weightlight as wl
from weightlight.variants import Variant


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/search-bert")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, vocab_size=100, num_labels=3,
                        attn_implementation="eager")  # fmt: skip
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    g = torch.Generator().manual_seed(0)
    ids, labels = torch.randint(0, 100, (160, 16), generator=g), torch.randint(0, 3, (160,))
    data = wl.data.from_tensors(ids[:96], labels[:96], ids[96:], labels[96:], name="tokens")
    result = wl.search(model, data, space="bert", metric="cosine", max_drop=1.0,
                       objective="latency", trials=args.trials, out=args.out, seed=0)  # fmt: skip
    base_ms = wl.search.study.cost_of(result.base, "latency")
    # ORT fp32 of the same model, measured in the same process with the same settings
    ort_fp32 = wl.export(model, wl.export.Export(optimize="all"), data, f"{args.out}/fp32.onnx")
    ort = wl.search.study.cost_of(Variant(
        name="ort-fp32", parent="base", kind="export", status="ok",
        measurement=wl.measure(ort_fp32, data, batch_sizes=(1, 8), runs=50, warmup=10),
    ), "latency")  # fmt: skip
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
        print(f"  vs ORT fp32 ({ort:.4f} ms, batch 8): {ort / b.cost:.2f}x")


if __name__ == "__main__":
    main()
