"""Structured pruning of a small BERT: whole heads and FFN neurons removed, saves and reloads."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl

transformers = pytest.importorskip("transformers")

CONFIG = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
              vocab_size=100, max_position_embeddings=32)  # fmt: skip


def build_bert() -> torch.nn.Module:
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(transformers.BertConfig(**CONFIG)).eval()


@pytest.fixture(scope="module")
def tokens():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 100, (64, 12), generator=g)
    y = torch.randint(0, 2, (64,), generator=g)
    return wl.data.from_tensors(x, y, x[:16], y[:16], name="tokens")


def test_bert_heads_and_ffn_pruned_saved_and_reloaded(tokens, tmp_path):
    model = build_bert()
    config = wl.prune.Structured(ratio=0.5, head_ratio=0.5)
    pruned = wl.prune(model, config, tokens)
    for layer in pruned.bert.encoder.layer:
        attn = layer.attention.self
        assert attn.num_attention_heads == 2 and attn.attention_head_size == 16  # 4 -> 2 heads
        assert attn.query.out_features == attn.key.out_features == 32
        assert layer.intermediate.dense.out_features == 64  # FFN 128 -> 64 neurons
    assert model.bert.encoder.layer[0].attention.self.num_attention_heads == 4  # input intact
    x = tokens.example_batch(3)
    logits = pruned(x).logits
    assert logits.shape == (3, 2)
    before = sum(p.numel() for p in model.parameters())
    after = sum(p.numel() for p in pruned.parameters())
    assert before / after >= 3.0  # the hidden width is pruned too (64 -> 32)

    path = wl.models.save_model(pruned, tmp_path / "bert.safetensors")
    reloaded = wl.models.load_model(path, factory=build_bert)  # heads restored from metadata
    assert reloaded.bert.encoder.layer[1].attention.self.num_attention_heads == 2
    torch.testing.assert_close(reloaded(x).logits, logits, rtol=0, atol=1e-6)
