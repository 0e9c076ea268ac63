"""Sentences of a text file, tokenized by a Hugging Face folder's tokenizer (see
`weightlight.text`), as a Data bundle for the embedding or language-modelling task."""

from __future__ import annotations

from pathlib import Path

from weightlight.data.bundle import Data, from_loaders
from weightlight.text import text_loaders


def text_data(
    path: str | Path,
    tokenizer_folder: str | Path,
    *,
    task: str = "embedding",
    max_length: int = 128,
    fixed_length: bool = False,
    batch_size: int = 32,
    eval_fraction: float = 0.2,
    seed: int = 0,
) -> Data:
    """Unlabelled sentences of a .txt / .jsonl file for `task` (embedding or causal_lm),
    tokenized by a Hugging Face folder's tokenizer into padded dict batches (20 % held out as
    the test set, 15 % of the rest as the validation set selection uses).

    Example:
        >>> data = text_data("sentences.txt", get_model_path(), max_length=64)
        >>> sorted(data.example_input)
        ['attention_mask', 'input_ids', 'token_type_ids']
    """
    train, held_out, val = text_loaders(
        path, tokenizer_folder, max_length=max_length, fixed_length=fixed_length,
        batch_size=batch_size, eval_fraction=eval_fraction, seed=seed,
    )  # fmt: skip
    return from_loaders(train, held_out, val=val, task=task, name=Path(path).name)
