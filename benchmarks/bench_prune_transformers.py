"""Structured pruning of every supported transformer family: 30 % of heads and FFN neurons.

For each family (tiny config, random weights: 2 blocks, hidden 64, 4 heads of 16, FFN 128;
Llama / Qwen2 with 2 key/value heads): parameters before and after, seconds to prune
(activation scores on 4 batches), ONNX export parity (max |onnx - torch| on the logits) and
whether `save_pretrained` + the `hf:` loader give the same outputs. Then a larger Llama
(`--big`) to show what pruning time scales with.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_prune_transformers.py --threads 2 [--big]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

import weightlight as wl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "prune"))
from hf_families import SPECS, build, data_for  # noqa: E402

CONFIG = wl.prune.Structured(ratio=0.3, head_ratio=0.3, importance="activation")


def logits(model, data) -> torch.Tensor:
    with torch.no_grad():
        return model(**data.example_batch(4)).logits


def row(name: str, folder: Path) -> dict:
    spec, model = SPECS[name], build(name)
    data = data_for(spec)
    start = time.perf_counter()
    pruned = wl.prune(model, CONFIG, data)
    seconds = time.perf_counter() - start
    pruned.save_pretrained(folder / name)
    reloaded = wl.models.load_model(f"hf:{folder / name}")
    reload_ok = torch.equal(logits(reloaded, data), logits(pruned, data))
    try:
        onnx = wl.export.onnx(pruned, data, folder / f"{name}.onnx", strict=False)
        parity = f"{onnx.parity.max_abs:.1e}"
    except wl.UserError as exc:
        parity = f"refused: {exc.problem[:60]}"
    return {
        "family": name,
        "params": f"{sum(p.numel() for p in model.parameters()):,}",
        "pruned": f"{sum(p.numel() for p in pruned.parameters()):,}",
        "seconds": f"{seconds:.3f}",
        "onnx max err": parity,
        "reload": "identical" if reload_ok else "DIFFERS",
    }


def big_llama() -> None:
    import transformers as t

    config = t.LlamaConfig(
        hidden_size=1024, intermediate_size=2816, num_hidden_layers=8, num_attention_heads=16,
        num_key_value_heads=4, vocab_size=32000,
    )  # fmt: skip
    torch.manual_seed(0)
    model = t.LlamaForCausalLM(config).eval()
    ids = torch.randint(0, 32000, (4, 128), generator=torch.Generator().manual_seed(0))
    batches = [{"input_ids": ids[i : i + 1], "attention_mask": torch.ones(1, 128, dtype=torch.long)}
               for i in range(4)]  # fmt: skip
    data = wl.data.from_loaders(batches, batches, task="embedding", output="logits", pooling=None)
    for importance in ("l2", "activation"):
        start = time.perf_counter()
        pruned = wl.prune(model, CONFIG.model_copy(update={"importance": importance}), data)
        print(f"Llama {sum(p.numel() for p in model.parameters()) / 1e6:.0f} M params, 8 blocks: "
              f"{importance} prune in {time.perf_counter() - start:.1f} s -> "
              f"{sum(p.numel() for p in pruned.parameters()) / 1e6:.0f} M")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--big", action="store_true", help="also time a 100 M-parameter Llama")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row(name, Path(tmp)) for name in SPECS]
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(r[c] for c in columns) + " |")
    if args.big:
        big_llama()


if __name__ == "__main__":
    main()
