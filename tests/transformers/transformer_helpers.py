"""Tiny Hugging Face models built from configs, and padded token loaders (nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

VOCAB = 100
WORDS = [f"w{i}" for i in range(60)]


def tiny_bert(seed: int = 0, eager: bool = False, init_std: float = 0.02):
    """A 2-block BERT. At BERT's own init_std (0.02) its blocks barely touch the residual
    stream: transformer-max's pruning (a quarter of the heads, half the FFN, one block) keeps
    its embedding at cosine 0.99988. At 0.1 the same pruning drops it to 0.898."""
    import transformers

    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        vocab_size=VOCAB, max_position_embeddings=64, pad_token_id=0,
        initializer_range=init_std, attn_implementation="eager" if eager else None,
    )  # fmt: skip
    torch.manual_seed(seed)
    return transformers.BertModel(config).eval()


def tiny_gpt2(seed: int = 0):
    import transformers

    config = transformers.GPT2Config(
        n_embd=32, n_layer=2, n_head=4, vocab_size=VOCAB, n_positions=64
    )
    torch.manual_seed(seed)
    return transformers.GPT2LMHeadModel(config).eval()


def sequences(n: int, seed: int, low: int = 3, high: int = 14) -> list[torch.Tensor]:
    """`n` token sequences of random lengths in [low, high) (ids 1..VOCAB-1; 0 is padding)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(low, high, (n,), generator=g).tolist()
    return [torch.randint(1, VOCAB, (length,), generator=g) for length in lengths]


class PadCollate:
    """A user's own collate_fn: pads to the batch's longest sequence, returns a dict batch."""

    calls = 0

    def __init__(self, with_mask: bool = True, with_types: bool = True) -> None:
        self.with_mask, self.with_types = with_mask, with_types

    def __call__(self, seqs: list[torch.Tensor]) -> dict:
        PadCollate.calls += 1
        width = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), width, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, s in enumerate(seqs):
            ids[i, : len(s)], mask[i, : len(s)] = s, 1
        batch = {"input_ids": ids}
        if self.with_mask:
            batch["attention_mask"] = mask
        if self.with_types:
            batch["token_type_ids"] = torch.zeros_like(ids)
        return batch


def token_loaders(n_train: int = 32, n_eval: int = 24, batch_size: int = 8, **collate):
    collate_fn = PadCollate(**collate)
    train = DataLoader(sequences(n_train, 1), batch_size=batch_size, collate_fn=collate_fn)
    held_out = DataLoader(sequences(n_eval, 2), batch_size=batch_size, collate_fn=collate_fn)
    return train, held_out


def save_tiny_bert_folder(folder: Path, init_std: float = 0.02) -> Path:
    """A Hugging Face folder (config, weights, a word-piece tokenizer) of a tiny BERT."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    vocab += [f"[unused{i}]" for i in range(VOCAB - len(vocab))]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(str(folder))
    tiny_bert(init_std=init_std).save_pretrained(str(folder))
    return folder


def write_sentences(path: Path, n: int = 40, seed: int = 0) -> Path:
    """`n` sentences of the tiny tokenizer's words, 2 to 12 words long."""
    g = torch.Generator().manual_seed(seed)
    lines = []
    for _ in range(n):
        length = int(torch.randint(2, 13, (1,), generator=g))
        lines.append(
            " ".join(WORDS[int(i)] for i in torch.randint(0, len(WORDS), (length,), generator=g))
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
