"""Pruning sensitivity ranks with the data's task metric: cosine vs the unpruned encoder for
an embedding task, perplexity (lower is better) for a causal LM; never top-1 on token data."""

from __future__ import annotations

import pytest
from transformer_helpers import VOCAB, tiny_bert, token_loaders

import weightlight as wl
from weightlight.data import from_loaders

transformers = pytest.importorskip("transformers")


def tiny_llama(seed: int = 0):
    import torch

    config = transformers.LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, vocab_size=VOCAB, max_position_embeddings=64,
    )  # fmt: skip
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(config).eval()


def test_embedding_sensitivity_is_cosine_against_the_unpruned_encoder():
    data = from_loaders(*token_loaders(), task="embedding")
    layers = ["encoder.layer.0.intermediate.dense", "encoder.layer.1.output.dense"]
    result = wl.prune.sensitivity(tiny_bert(), data, ratios=(0.0, 0.9), kind="unstructured",
                                  layers=layers)  # fmt: skip
    assert result.metric_name.startswith("cosine") and result.higher_is_better
    assert result.baseline == pytest.approx(100.0, abs=1e-4)  # the encoder agrees with itself
    pruned = {r["layer"]: r for r in result.table() if r["ratio"] == 0.9}
    assert set(pruned) == set(layers)
    assert all(90.0 < r["metric"] < 100.0 and r["drop"] > 0 for r in pruned.values())


def test_causal_lm_sensitivity_is_perplexity_and_a_rise_is_a_drop():
    data = from_loaders(*token_loaders(with_types=False), task="causal_lm")
    layers = ["model.layers.0.mlp.down_proj", "model.layers.1.self_attn.o_proj"]
    result = wl.prune.sensitivity(tiny_llama(), data, ratios=(0.9,), kind="unstructured",
                                  layers=layers)  # fmt: skip
    assert result.metric_name == "perplexity" and not result.higher_is_better
    assert 50 < result.baseline < 3 * VOCAB  # an untrained LM: about the vocabulary size
    rows = result.table()
    assert all(r["metric"] != result.baseline for r in rows)
    # a higher perplexity is a positive drop (worse), as search and the ranking read it
    assert all((r["drop"] > 0) == (r["metric"] > result.baseline) for r in rows)
    assert any(r["drop"] > 0 for r in rows)
