"""Heads and FFN neurons of a sentence encoder (a wrapped BERT) scored on padded text and
physically removed through `wl.prune` (`Structured(importance="activation")`)."""

from __future__ import annotations

import pytest
import torch
from encoder_helpers import encoder_data, padded_batches, pruned_encoder

import weightlight as wl
from weightlight.errors import UserError
from weightlight.models.encoder import embeddings
from weightlight.models.hf_arch import blocks as block_list
from weightlight.models.hf_arch import find_family
from weightlight.prune.transformer_scores import unit_scores


def importance(encoder, batches):
    hf, family = find_family(encoder)
    layers = block_list(hf, family)[1]
    return unit_scores(encoder, layers, family, "activation", encoder_data(batches), 99)


def test_shapes_shrink_and_the_input_model_is_kept(encoder, batches):
    pruned = pruned_encoder(encoder, batches, head_ratio=0.25, ffn_ratio=0.5)
    for block in pruned.model.encoder.layer:
        attn = block.attention.self
        assert attn.num_attention_heads == 3 and attn.all_head_size == 48  # 4 -> 3 heads of 16
        assert attn.query.out_features == attn.value.out_features == 48
        assert block.attention.output.dense.in_features == 48
        assert block.intermediate.dense.out_features == 64  # FFN 128 -> 64
        assert block.output.dense.in_features == 64
    assert encoder.model.encoder.layer[0].intermediate.dense.out_features == 128  # untouched
    out = pruned(batches[0]["input_ids"], batches[0]["attention_mask"])
    assert out.shape == (*batches[0]["input_ids"].shape, 64)  # hidden width kept
    before = sum(p.numel() for p in encoder.parameters())
    after = sum(p.numel() for p in pruned.parameters())
    head = 3 * (16 * 64 + 16) + 16 * 64  # q, k, v rows (+ bias) and attention-output columns
    neurons = 64 * (64 + 1) + 64 * 64  # FFN-in rows (+ bias) and FFN-out columns
    assert before - after == 2 * (head + neurons)  # two blocks


def test_units_that_contribute_nothing_are_the_ones_removed(encoder, batches):
    """Silence heads 1 and 3 and FFN neurons 0..63 (zero outgoing weights): the importance
    must rank them last, so removing them leaves every embedding exactly as it was."""
    with torch.no_grad():
        for block in encoder.model.encoder.layer:
            block.attention.output.dense.weight[:, 16:32] = 0
            block.attention.output.dense.weight[:, 48:64] = 0
            block.output.dense.weight[:, :64] = 0
    pruned = pruned_encoder(encoder, batches, head_ratio=0.5, ffn_ratio=0.5)
    torch.testing.assert_close(embeddings(pruned, batches), embeddings(encoder, batches),
                               rtol=0, atol=1e-5)  # fmt: skip
    heads, ffn = importance(encoder, batches)
    assert heads[0][1] == 0 and heads[0][0] > 0 and float(ffn[1][:64].sum()) == 0


def test_padding_does_not_count(encoder):
    """Scores are means over real tokens: a padded copy of the same batch scores the same."""
    batch = padded_batches(1, size=2)[0]
    wider = {k: torch.nn.functional.pad(v, (0, 7)) for k, v in batch.items()}
    for a, b in zip(*(importance(encoder, [x]) for x in (batch, wider)), strict=True):
        torch.testing.assert_close(torch.stack(a), torch.stack(b), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"head_ratio": 1.0}, {"ffn_ratio": -0.1}])
def test_bad_ratios_are_user_errors(kwargs):
    with pytest.raises(UserError, match="Structured.(head|ffn)_ratio"):
        wl.prune.Structured(**kwargs)


def test_a_model_without_transformer_blocks_is_a_user_error(batches):
    with pytest.raises(UserError, match="apply to the transformer families"):
        pruned_encoder(torch.nn.Linear(3, 3), batches, ffn_ratio=0.5)
