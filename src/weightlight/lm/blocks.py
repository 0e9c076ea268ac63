"""Token blocks: documents tokenized, joined with end-of-text, cut into equal blocks.

Training on packed blocks (no padding) spends every step on text; the held-out perplexity is
scored on blocks of the same length, each predicting its own next tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from weightlight.data import Data
from weightlight.errors import UserError


class Blocks(Dataset):
    """Rows of a [n, length] id tensor as `{input_ids, attention_mask}` samples."""

    def __init__(self, ids: torch.Tensor) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        row = self.ids[index]
        return {"input_ids": row, "attention_mask": torch.ones_like(row)}


def pack(texts: Sequence[str], tokenizer, length: int) -> torch.Tensor:
    """[n, length] ids of the texts joined by the end-of-text token (the last partial block is
    dropped)."""
    end = tokenizer.eos_token_id
    ids: list[int] = []
    for text in texts:
        ids += tokenizer(text, add_special_tokens=False).input_ids + [end]
    n = len(ids) // length
    if n < 1:
        raise UserError(
            f"the text holds {len(ids)} tokens, fewer than one block of {length}",
            "give more text or a shorter block",
        )
    return torch.tensor(ids[: n * length], dtype=torch.long).view(n, length)


def block_data(
    train: Sequence[str],
    val: Sequence[str],
    test: Sequence[str],
    tokenizer,
    *,
    length: int = 128,
    batch_size: int = 16,
    seed: int = 0,
    name: str = "text",
) -> Data:
    """A causal_lm Data bundle of packed blocks (train shuffled, seeded; calib = 16 train
    blocks; val and eval in order)."""
    blocks = {split: Blocks(pack(texts, tokenizer, length))
              for split, texts in (("train", train), ("val", val), ("test", test))}  # fmt: skip
    generator = torch.Generator().manual_seed(seed)
    calib = torch.utils.data.Subset(blocks["train"], range(min(16, len(blocks["train"]))))
    eval_loader = DataLoader(blocks["test"], batch_size=batch_size)
    return Data(
        train=DataLoader(
            blocks["train"], batch_size=batch_size, shuffle=True, generator=generator
        ),  # fmt: skip
        calib=DataLoader(calib, batch_size=batch_size),
        eval=eval_loader,
        val=DataLoader(blocks["val"], batch_size=batch_size),
        example_input={k: v[None] for k, v in blocks["test"][0].items()},
        task="causal_lm",
        name=name,
    )
