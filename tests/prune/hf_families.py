"""Tiny Hugging Face models of each family structured pruning supports (random weights, 2
blocks, hidden 64, 4 heads of 16, FFN 128; Llama, Qwen2 and Mistral with 2 key/value heads),
their data, and the parameter count a head / FFN pruning must leave, from the shapes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

import weightlight as wl

HIDDEN, HEADS, HEAD_DIM, FFN, LAYERS, VOCAB = 64, 4, 16, 128, 2, 100
_COMMON = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
               intermediate_size=FFN, vocab_size=VOCAB, max_position_embeddings=64)  # fmt: skip


@dataclass(frozen=True)
class Spec:
    """How to build a family and what its blocks hold (for the expected parameter count)."""

    name: str
    kv_heads: int = HEADS  # < HEADS: grouped-query attention
    qkv_bias: bool = True
    ffn_inputs: int = 1  # 2 for gated MLPs (gate + up)
    ffn_bias: bool = True
    image: bool = False
    reads_head_dim: bool = False  # plain from_pretrained rebuilds a pruned model


SPECS = {
    s.name: s
    for s in (
        Spec("bert"),
        Spec("roberta"),
        Spec("distilbert"),
        Spec("deberta-v2"),
        Spec("gpt2"),
        Spec(
            "llama", kv_heads=2, qkv_bias=False, ffn_inputs=2, ffn_bias=False, reads_head_dim=True
        ),
        Spec("qwen2", kv_heads=2, ffn_inputs=2, ffn_bias=False, reads_head_dim=True),
        Spec(
            "mistral", kv_heads=2, qkv_bias=False, ffn_inputs=2, ffn_bias=False, reads_head_dim=True
        ),
        Spec("vit", image=True, reads_head_dim=True),
    )  # fmt: skip
}


def build(name: str) -> torch.nn.Module:
    import transformers as t

    torch.manual_seed(0)
    if name == "bert":
        model = t.BertForSequenceClassification(t.BertConfig(**_COMMON))
    elif name == "roberta":
        model = t.RobertaForSequenceClassification(t.RobertaConfig(**_COMMON))
    elif name == "distilbert":
        model = t.DistilBertForSequenceClassification(t.DistilBertConfig(
            dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FFN, vocab_size=VOCAB,
            max_position_embeddings=64))  # fmt: skip
    elif name == "deberta-v2":
        model = t.DebertaV2ForSequenceClassification(t.DebertaV2Config(**_COMMON))
    elif name == "gpt2":
        model = t.GPT2LMHeadModel(t.GPT2Config(n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS,
                                               n_inner=FFN, vocab_size=VOCAB, n_positions=64,
                                               bos_token_id=0, eos_token_id=0))  # fmt: skip
    elif name == "llama":
        model = t.LlamaForCausalLM(t.LlamaConfig(**_COMMON, num_key_value_heads=2))
    elif name == "qwen2":
        model = t.Qwen2ForCausalLM(t.Qwen2Config(**_COMMON, num_key_value_heads=2))
    elif name == "mistral":
        model = t.MistralForCausalLM(t.MistralConfig(**_COMMON, num_key_value_heads=2))
    elif name == "vit":
        model = t.ViTForImageClassification(t.ViTConfig(
            hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
            intermediate_size=FFN, image_size=32, patch_size=8, num_labels=3))  # fmt: skip
    else:
        raise KeyError(name)
    return model.eval()


def data_for(spec: Spec, batches: int = 4) -> wl.data.Data:
    """Dict batches (padded token ids with a mask, or images) the models' logits are read from."""
    g = torch.Generator().manual_seed(1)
    if spec.image:
        x = torch.randn(8 * batches, 3, 32, 32, generator=g)
        items = [{"pixel_values": x[i : i + 8]} for i in range(0, len(x), 8)]
    else:
        ids = torch.randint(3, VOCAB, (8 * batches, 12), generator=g)
        mask = torch.ones_like(ids)
        mask[::2, 9:] = 0  # every other row padded: scores must skip padding
        items = [{"input_ids": ids[i : i + 8], "attention_mask": mask[i : i + 8]}
                 for i in range(0, len(ids), 8)]  # fmt: skip
    loader = DataLoader(items, batch_size=None)
    return wl.data.from_loaders(loader, loader, task="embedding", output="logits",
                                pooling=None, name=spec.name)  # fmt: skip


def kept(n: int, ratio: float) -> int:
    return max(1, math.floor(n * (1 - ratio) + 0.5))


def expected_removed(spec: Spec, head_ratio: float, ffn_ratio: float) -> int:
    """Parameters a head + FFN pruning removes, from the shapes alone."""
    group = HEADS // spec.kv_heads
    gone_heads = HEADS - spec.kv_heads * kept(group, head_ratio) if spec.kv_heads < HEADS else (
        HEADS - kept(HEADS, head_ratio))  # fmt: skip
    rows = gone_heads * HEAD_DIM
    per_row = HIDDEN + spec.qkv_bias
    # query rows (and key/value rows without grouping) + output-projection columns
    heads = rows * per_row * (1 if spec.kv_heads < HEADS else 3) + rows * HIDDEN
    gone_ffn = FFN - kept(FFN, ffn_ratio)
    ffn = gone_ffn * (spec.ffn_inputs * (HIDDEN + spec.ffn_bias) + HIDDEN)
    return LAYERS * (heads + ffn)
