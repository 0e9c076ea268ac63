"""The embedded language model's tokenizer: byte-level BPE trained on the training documents.

Why BPE and not one token per byte: a 1,024-token byte-level BPE cuts the docstrings to
one token per 2.6 bytes, so a training step of the same length sees 2.6 times the text and
a generated token is a word piece, as with real LMs; the model also gets a real vocabulary
projection (the LM head), which weight-only int4 and pruning meet in real LMs. Byte-level, so
any text (a user's prompt) tokenizes without unknown tokens. It trains in a few seconds with
Hugging Face `tokenizers`, single-threaded so its merges are the same on every run, and is
saved as a `tokenizer.json` that `transformers.AutoTokenizer` reads like any other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

END = "<|endoftext|>"  # separates documents; also the padding token (masked out)


def train_tokenizer(texts: Sequence[str], vocab_size: int = 1024):
    """A `PreTrainedTokenizerFast` (byte-level BPE, `vocab_size` tokens) trained on `texts`.

    Example:
        >>> tok = train_tokenizer(["def f(x): return x", "Return the sum."] * 50, 300)
        >>> tok.decode(tok("Return x").input_ids)
        'Return x'
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    # Rayon's parallel word counting can reorder equal-count merges between runs: one thread.
    previous = os.environ.get("RAYON_NUM_THREADS")
    os.environ["RAYON_NUM_THREADS"] = "1"
    try:
        core = Tokenizer(models.BPE())
        core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        core.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=[END], show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )  # fmt: skip
        core.train_from_iterator(list(texts), trainer=trainer)
    finally:
        if previous is None:
            os.environ.pop("RAYON_NUM_THREADS", None)
        else:
            os.environ["RAYON_NUM_THREADS"] = previous
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=END, eos_token=END, pad_token=END, unk_token=None
    )
