"""Structured pruning of a small BERT: whole heads and FFN neurons removed, saved in
weightlight's own .safetensors format (the pipeline's) and reloaded through a factory."""

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
    # per block: 2 heads x 16 rows of q, k, v (+ bias) and 32 columns of the output
    # projection; 64 FFN neurons' rows (+ bias) and columns. The hidden width (64) stays.
    per_block = 32 * 65 * 3 + 32 * 64 + 64 * (65 + 64)
    assert before - after == 2 * per_block
    assert pruned.bert.embeddings.word_embeddings.embedding_dim == 64

    path = wl.models.save_model(pruned, tmp_path / "bert.safetensors")
    reloaded = wl.models.load_model(path, factory=build_bert)  # heads restored from metadata
    assert reloaded.bert.encoder.layer[1].attention.self.num_attention_heads == 2
    torch.testing.assert_close(reloaded(x).logits, logits, rtol=0, atol=1e-6)
