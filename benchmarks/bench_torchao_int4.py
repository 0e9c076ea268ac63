"""Does torchao's int4 weight-only make a causal LM decode faster on this CPU? One process.

torchao 0.18's CPU int4 path (`PrototypeInt4WeightOnlyConfig`: `Int4OpaqueTensor`, torch's
tinygemm kernel `aten._weight_int4pack_mm_for_cpu`, float activations) beside torch fp32 and
torch `quantize_dynamic` int8, on a Llama built from a config (random weights: speed only).
Batch 1, a 64-token prompt, greedy decode with the key/value cache, the three re-timed
interleaved (`weightlight.measure.generation.interleaved_generation`), 2 threads. Figures and
the CPU they came from: docs/quantization.md ("torchao int4 on CPU").

    .venv/bin/python benchmarks/bench_torchao_int4.py --size tiny            # 2.4 M params
    .venv/bin/python benchmarks/bench_torchao_int4.py --size 100m --new 16 --rounds 3
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch import nn

from weightlight.hardware import cpu_features
from weightlight.measure.generation import TorchDecoder, interleaved_generation

SIZES = {  # hidden, FFN, blocks, heads, key/value heads, vocabulary
    "tiny": (192, 512, 4, 6, 2, 1024),  # the embedded LM's shape
    "100m": (768, 2048, 12, 12, 4, 32000),
}


def llama(hidden, ffn, blocks, heads, kv, vocab) -> nn.Module:
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=blocks,
        num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=512,
        tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


def torchao_int4(model: nn.Module, group_size: int = 32) -> nn.Module:
    from torchao.prototype.quantization.int4.inference_workflow import (
        PrototypeInt4WeightOnlyConfig,
    )
    from torchao.quantization import quantize_

    out = copy.deepcopy(model)
    config = PrototypeInt4WeightOnlyConfig(group_size=group_size, set_inductor_config=False)
    quantize_(out, config, filter_fn=lambda m, _name: isinstance(m, nn.Linear))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = llama(*SIZES[args.size])
    dynamic = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear})
    decoders = {
        "torch fp32": TorchDecoder(model),
        "torchao int4 (g32)": TorchDecoder(torchao_int4(model)),
        "torch quantize_dynamic": TorchDecoder(dynamic),
    }
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, model.config.vocab_size, (1, args.prompt), generator=g)
    points = interleaved_generation(
        decoders, prompt, new_tokens=args.new, runs=args.rounds, warmup=1, rounds=args.rounds,
        threads=args.threads,
    )  # fmt: skip
    params = sum(p.numel() for p in model.parameters())
    cpu = cpu_features()
    print(f"{args.size}: {params:,} params; {cpu.model_name}, flags {sorted(cpu.flags)}; "
          f"{args.threads} threads")  # fmt: skip
    base = points["torch fp32"]
    for name, p in points.items():
        ratio = p.decode_tokens_per_s / base.decode_tokens_per_s
        print(f"{name:24s} prefill {p.prefill_ms_p50:9.1f} ms   decode "
              f"{p.decode_tokens_per_s:7.1f} tok/s ({ratio:.2f}x fp32)")  # fmt: skip


if __name__ == "__main__":
    main()
