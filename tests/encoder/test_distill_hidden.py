"""Hidden-state distillation on unlabelled text brings a pruned encoder back to its teacher."""

from __future__ import annotations

import pytest
import torch
from encoder_helpers import padded_batches, pruned_encoder

from weightlight.distill.hidden import distill_hidden
from weightlight.distill.losses import embedding_cosine_loss, masked_hidden_loss
from weightlight.errors import UserError
from weightlight.models.encoder import embedding_agreement, embeddings


@pytest.mark.slow  # 180 training steps of a tiny BERT
def test_distillation_recovers_the_teacher(encoder, batches):
    student = pruned_encoder(encoder, batches, head_ratio=0.5, ffn_ratio=0.75)
    heldout = padded_batches(4, seed=1)  # never trained on
    reference = embeddings(encoder, heldout)
    student_before = embeddings(student, heldout)
    before = embedding_agreement(reference, student_before)
    tuned = distill_hidden(student, encoder, batches, epochs=30, lr=1e-3)
    after = embedding_agreement(reference, embeddings(tuned, heldout))
    # 1 - cosine at least halves on text it never trained on.
    assert (1 - after[0]) * 2 < 1 - before[0]
    assert after[1] > before[1]
    # the student passed in is not trained in place
    torch.testing.assert_close(embeddings(student, heldout), student_before, rtol=0, atol=0)


def test_losses_ignore_padding_and_scale():
    h = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    noisy = h + 5 * (1 - mask).unsqueeze(-1)  # differs only at padded positions
    assert float(masked_hidden_loss(noisy, h, mask)) == 0.0
    assert float(masked_hidden_loss(noisy, h, torch.ones_like(mask))) > 1.0
    e = torch.randn(4, 8)
    assert float(embedding_cosine_loss(3 * e, e)) < 1e-6
    assert float(embedding_cosine_loss(-e, e)) == pytest.approx(2.0)


def test_block_count_mismatch_and_empty_batches_are_user_errors(encoder, batches):
    from encoder_helpers import tiny_encoder

    deeper = tiny_encoder()
    deeper.model.encoder.layer.append(deeper.model.encoder.layer[0])
    with pytest.raises(UserError, match="blocks"):
        distill_hidden(encoder, deeper, batches, epochs=1)
    with pytest.raises(UserError, match="no batches"):
        distill_hidden(encoder, encoder, [], epochs=1)
