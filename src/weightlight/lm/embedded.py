"""`weightlight run lm`'s model and data: a small Llama trained on Python's own docstrings.

    python_docs()  ->  train_tokenizer(train docs)  ->  tiny_llama(vocab)  ->  wl.train
                                                          (seeded; cached as a Hugging Face
                                                           folder: config, weights, tokenizer)

The trained model is cached like the CNN's trained base (`<run>/cache/`), as a Hugging Face
folder, so a later run (or `--model hf:<that folder>`, or transformers itself) loads it without
training again. The folder's name carries the Python minor version, whose docstrings it learnt.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.lm.blocks import block_data
from weightlight.lm.corpus import Corpus, python_docs
from weightlight.lm.model import tiny_llama
from weightlight.lm.tokenizer import train_tokenizer

DATA_NAME = "python-docs"
MODEL_NAME = "tiny_llama"
# In the cache folder's name: a run with another model or training never reuses an old cache.
VERSION = "v2"  # v2: width 128, 800 steps
# A fixed number of optimizer steps, not a time budget: the same seeded model on a busy machine
# and a quiet one. Step count is what the model lacked most. Measured under load, 1 thread,
# batches of 8 blocks, one-cycle schedule (warm-up, then cosine decay), held-out perplexity:
# width 192 (1.97 M params), 186 steps at lr 8e-3 238 (the former training), 400 at 3e-3 94;
# 220 steps of 16 at 3e-3 134, 700 of 4 at 3e-3 106; width 128 (`model.SHAPE`), 800 steps
# at 3e-3 41.0 (41.7 through `embedded_lm`), against 63.7 for a count bigram on the same
# tokens. Those 800 steps took 151 s (0.18 s each; 158 s with the text and tokenizer) with 1
# thread on the loaded 2 cores: about 2 minutes on 2 quiet ones. With 2 threads on loaded
# cores a step took 5.0 s (median of 20), not 0.18: OpenMP threads wait on each other.
STEPS = 800
LR = 3e-3
BLOCK = 128
BATCH = 8
VOCAB = 1024


def cache_folder(cache_dir: str | Path) -> Path:
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    return Path(cache_dir) / f"{MODEL_NAME}-{DATA_NAME}-{version}-{VERSION}-trained"


def python_docs_data(tokenizer, corpus: Corpus | None = None) -> Data:
    """The stdlib docstrings as packed 128-token blocks, tokenized by `tokenizer`."""
    corpus = corpus or python_docs()
    return block_data(corpus.train, corpus.val, corpus.test, tokenizer, length=BLOCK,
                      batch_size=BATCH, name=DATA_NAME)  # fmt: skip


def embedded_lm(
    cache_dir: str | Path, *, epochs: float | None = None, progress: bool = True, on_train=None
) -> tuple[nn.Module, Data, Path]:
    """(trained model, its data, its Hugging Face folder), trained once and then cached.

    Args:
        cache_dir: where the trained folder is kept (`<run>/cache`).
        epochs: passes over the training blocks when it has to train (default: `STEPS`
            steps of `BATCH` blocks).
        progress: show the training progress bar.
        on_train: called with a one-line message before training starts (the CLI prints it).
    """
    from weightlight._optional import require
    from weightlight.models.hf import load_hf
    from weightlight.train import train

    # The LM, its tokenizer and its trainer all come from the [lm] extra's libraries.
    require("tokenizers", "the embedded language model (weightlight run lm)")
    AutoTokenizer = require("transformers", "the embedded language model").AutoTokenizer

    folder = cache_folder(cache_dir)
    corpus = python_docs()
    if (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        return load_hf(folder), python_docs_data(tokenizer, corpus), folder
    tokenizer = train_tokenizer(corpus.train, vocab_size=VOCAB)
    data = python_docs_data(tokenizer, corpus)
    per_epoch = len(data.train)
    if epochs is None:
        # train() runs ceil(epochs x steps per epoch) steps: half a step short of STEPS is
        # exactly STEPS, whatever the float rounding.
        epochs = (STEPS - 0.5) / per_epoch
    if on_train is not None:
        steps, blocks = math.ceil(epochs * per_epoch), len(data.train.dataset)
        on_train(f"training {MODEL_NAME} on {DATA_NAME} ({corpus.source}; {steps} steps "
                 f"of {BATCH} of its {blocks} blocks of {BLOCK} tokens, cached in "
                 f"{folder})")  # fmt: skip
    model = tiny_llama(len(tokenizer), bos_id=tokenizer.eos_token_id,
                       eos_id=tokenizer.eos_token_id)  # fmt: skip
    torch.manual_seed(0)
    started = time.perf_counter()
    trained = train(model, data, epochs=epochs, lr=LR, progress=progress)
    if on_train is not None:
        on_train(f"trained in {time.perf_counter() - started:.0f} s ({torch.get_num_threads()} "
                 "threads)")  # fmt: skip
    _save_folder(trained, tokenizer, folder)
    return trained, data, folder


def _save_folder(model: nn.Module, tokenizer, folder: Path) -> None:
    """Write the folder next to its place and rename it there: never a half-written cache."""
    import transformers

    transformers.utils.logging.disable_progress_bar()  # the library does not print
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except OSError as exc:
        raise UserError(
            f"cannot write the trained model to '{folder}' ({exc.strerror or exc})",
            "choose a writable --out folder",
        ) from None
