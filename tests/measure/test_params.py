"""Parameter counts as reports give them."""

from __future__ import annotations


def test_a_tied_embedding_counts_once() -> None:
    """GPT-2's LM head is its token embedding: one tensor, stored once, counted once."""
    import transformers

    from weightlight.measure.params import count_params

    config = transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=1, n_head=2, n_positions=64)
    model = transformers.GPT2LMHeadModel(config)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert count_params(model)[0] == sum(p.numel() for p in model.parameters()) == 18_016
