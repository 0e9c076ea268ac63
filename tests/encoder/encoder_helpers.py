"""A tiny BERT encoder (config-built, random weights, no download) and padded text batches."""

from __future__ import annotations

import torch
import transformers

from weightlight.models.encoder import SentenceEncoder

CONFIG = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
              vocab_size=100, max_position_embeddings=64, attn_implementation="eager")  # fmt: skip


def tiny_encoder(seed: int = 0) -> SentenceEncoder:
    torch.manual_seed(seed)
    return SentenceEncoder(transformers.BertModel(transformers.BertConfig(**CONFIG))).eval()


def padded_batches(n: int, size: int = 4, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """`n` batches of token ids with mixed lengths (4..24) and their padding masks."""
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n):
        lengths = torch.randint(4, 25, (size,), generator=g)
        ids = torch.randint(1, 100, (size, int(lengths.max())), generator=g)
        mask = (torch.arange(ids.shape[1]) < lengths.unsqueeze(1)).long()
        batches.append({"input_ids": ids * mask, "attention_mask": mask})
    return batches


def pruned_encoder(encoder, batches, *, head_ratio: float = 0.0, ffn_ratio: float = 0.0):
    """Heads and FFN neurons removed through `wl.prune`, scored on `batches` (activations)."""
    import weightlight as wl

    config = wl.prune.Structured(ratio=0, head_ratio=head_ratio, ffn_ratio=ffn_ratio,
                                 importance="activation", round_to=8,
                                 calib_batches=len(batches))  # fmt: skip
    return wl.prune(encoder, config, encoder_data(batches))


def encoder_data(batches):
    import weightlight as wl

    return wl.data.from_loaders(batches, batches, task="embedding", pooling="mean", name="text")
