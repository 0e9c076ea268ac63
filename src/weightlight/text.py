"""Text data: a `.txt` file (one sentence a line) or JSONL (a "text" field per line),
tokenized by a Hugging Face model folder's own tokenizer into padded dict batches.

Batches are `{input_ids, attention_mask, token_type_ids?}` as the tokenizer returns them: each
batch is padded to its longest sentence (or to `max_length` with `fixed_length`), and the mask
says which tokens are padding. Nothing is downloaded: the tokenizer is read from the folder.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from torch.utils.data import DataLoader

from weightlight._optional import require
from weightlight.errors import UserError

TEXT_SUFFIXES = (".txt", ".jsonl")


def read_texts(path: str | Path) -> list[str]:
    """The non-empty sentences of a .txt (one a line) or .jsonl ("text" field) file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"text file '{path}' does not exist", "check the path")
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".jsonl":
        texts = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise UserError(
                    f"{path.name} line {number} is not JSON", 'write one {"text": "..."} a line'
                ) from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise UserError(
                    f'{path.name} line {number} has no "text" string', 'use {"text": "..."}'
                )
            texts.append(row["text"])
    else:
        texts = [line.strip() for line in lines if line.strip()]
    if len(texts) < 2:
        raise UserError(
            f"text file '{path}' holds {len(texts)} sentence(s)", "give at least two sentences"
        )
    return texts


def load_tokenizer(folder: str | Path):
    """The tokenizer saved in a Hugging Face model folder, read offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when huggingface_hub is imported
    transformers = require("transformers", f"the tokenizer of '{folder}'")
    try:
        return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise UserError(
            f"no tokenizer could be read from '{folder}' ({type(exc).__name__})",
            "use the model's Hugging Face folder (tokenizer.json or vocab files inside)",
        ) from None


class Tokenize:
    """collate_fn: a list of sentences -> one padded dict batch (picklable, for workers)."""

    def __init__(self, tokenizer, max_length: int, fixed_length: bool) -> None:
        self.tokenizer, self.max_length, self.fixed_length = tokenizer, max_length, fixed_length

    def __call__(self, texts: list[str]) -> dict:
        return dict(
            self.tokenizer(
                texts,
                padding="max_length" if self.fixed_length else True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
        )


def text_loaders(
    path: str | Path,
    tokenizer_folder: str | Path,
    *,
    max_length: int = 128,
    fixed_length: bool = False,
    batch_size: int = 32,
    eval_fraction: float = 0.2,
    val_fraction: float = 0.15,
    seed: int = 0,
) -> tuple[DataLoader, DataLoader, DataLoader | None]:
    """(train, eval, val) loaders of padded dict batches over a text file's sentences.

    Sentences are shuffled (seeded) and split: `eval_fraction` of them are the test set every
    report shows, and `val_fraction` of the rest the validation set that selection (search,
    node ranking, "best") uses, so no choice is made on the sentences it is reported on.
    `val` is None when the file is too small to spare one. `weightlight.data.text_data`
    bundles them.
    """
    if max_length < 2:
        raise UserError(f"max_length must be >= 2, got {max_length}", "use e.g. 128")
    texts = read_texts(path)
    tokenizer = load_tokenizer(tokenizer_folder)
    if tokenizer.pad_token is None:  # GPT-2 style tokenizers have none: pad with end-of-text
        tokenizer.pad_token = tokenizer.eos_token
    random.Random(seed).shuffle(texts)
    n_eval = max(1, round(len(texts) * eval_fraction))
    collate = Tokenize(tokenizer, max_length, fixed_length)
    rest = texts[n_eval:]
    n_val = round(len(rest) * val_fraction) if len(rest) > 1 else 0
    train = DataLoader(rest[n_val:], batch_size=batch_size, shuffle=False, collate_fn=collate)
    held_out = DataLoader(texts[:n_eval], batch_size=batch_size, collate_fn=collate)
    val = DataLoader(rest[:n_val], batch_size=batch_size, collate_fn=collate) if n_val else None
    return train, held_out, val
