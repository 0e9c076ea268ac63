"""A tiny Llama trained for a few dozen seconds on a fixed synthetic text (nothing downloaded),
and the perplexity the LM tests compare.

The text is sentences drawn from a small grammar with a seeded generator, one word one token
(~100 words): a 2-layer model learns its structure in a few hundred steps (bytes of real text
would need thousands), so compression that harms the model shows in perplexity.
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

SEQ = 32
PEOPLE = ["the keeper", "my neighbour", "a young engineer", "the council", "our team",
          "the guide", "a teacher", "the nurse", "the club", "a musician", "the chef",
          "my grandmother", "the intern", "a student", "the baker", "the group"]  # fmt: skip
ACTIONS = {  # verb -> the things it takes (so the object depends on the verb)
    "repaired": ["the old boat", "a broken clock", "the red bicycle", "the garden gate"],
    "painted": ["the garden gate", "a small room", "the old boat", "the fence"],
    "cooked": ["a warm soup", "the fresh bread", "a spicy curry", "the rice"],
    "read": ["a long letter", "the morning paper", "an old book", "the report"],
    "sold": ["the red bicycle", "an old book", "the fresh bread", "a broken clock"],
    "cleaned": ["a small room", "the kitchen", "the fence", "the old boat"],
}
WHEN = ["yesterday", "on monday", "this morning", "last week", "at night", "after lunch"]
HOW = {"repaired": "carefully", "painted": "slowly", "cooked": "happily", "read": "quietly",
       "sold": "quickly", "cleaned": "thoroughly"}  # fmt: skip


def corpus(sentences: int = 6000, seed: int = 0) -> list[str]:
    """The words of `sentences` grammar sentences, '.' ending each."""
    rng = random.Random(seed)
    words: list[str] = []
    for _ in range(sentences):
        verb = rng.choice(sorted(ACTIONS))
        parts = [rng.choice(PEOPLE), verb, rng.choice(ACTIONS[verb]), HOW[verb]]
        if rng.random() < 0.5:
            parts.append(rng.choice(WHEN))
        words += " ".join(parts).split() + ["."]
    return words


def vocabulary() -> list[str]:
    return sorted(set(corpus(200, seed=1)) | set(corpus()))


def split_ids(seq: int = SEQ) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) token sequences [N, seq]: every 10th chunk is held out."""
    index = {w: i for i, w in enumerate(vocabulary())}
    data = torch.tensor([index[w] for w in corpus()], dtype=torch.long)
    chunks = data[: len(data) // seq * seq].reshape(-1, seq)
    held = torch.arange(len(chunks)) % 10 == 9
    return chunks[~held], chunks[held]


def tiny_llama(seed: int = 0):
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(config)


def train_tiny_llama(steps: int = 400, seed: int = 0):
    """The tiny Llama after `steps` of AdamW on the training chunks (a step count, not a time
    budget: the same model on a busy machine and a quiet one)."""
    train, _ = split_ids()
    model = tiny_llama(seed).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = train[torch.randint(0, len(train), (32,), generator=g)]
        logits = model(input_ids=batch).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, 128), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def loaders(batch_size: int = 16):
    """(train, held-out) loaders of {input_ids, attention_mask} batches."""

    def collate(rows):
        ids = torch.stack(rows)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    train, held = split_ids()
    return (DataLoader(list(train), batch_size=batch_size, collate_fn=collate),
            DataLoader(list(held), batch_size=batch_size, collate_fn=collate))  # fmt: skip


def lm_data():
    import weightlight as wl

    train, held = loaders()
    return wl.data.from_loaders(train, held, task="causal_lm", name="grammar-text")


def perplexity(logits_of, ids: torch.Tensor) -> float:
    """exp(mean next-token cross-entropy) of `logits_of(ids [B, T]) -> [B, T, vocab]`."""
    total, count = 0.0, 0
    with torch.no_grad():
        for rows in ids.split(16):
            logits = logits_of(rows).float()
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                   rows[:, 1:].reshape(-1), reduction="sum")  # fmt: skip
            total, count = total + float(loss), count + rows[:, 1:].numel()
    return math.exp(total / count)
