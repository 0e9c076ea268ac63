"""Resolve a data source named on the command line or in a recipe to a Data bundle."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from weightlight._factory import import_factory, is_factory_spec
from weightlight.adapter import ModelAdapter
from weightlight.data.bundle import Data
from weightlight.data.images import image_folder
from weightlight.data.mnist_idx import mnist
from weightlight.data.npz_file import npz
from weightlight.data.sklearn_digits import digits
from weightlight.data.text_file import text_data
from weightlight.errors import UserError
from weightlight.tasks import get_task
from weightlight.text import TEXT_SUFFIXES


def load_data(
    spec: str,
    *,
    seed: int = 0,
    batch_size: int = 64,
    model: str | None = None,
    task: str | None = None,
    max_length: int = 128,
    fixed_length: bool = False,
) -> Data:
    """Resolve a data source: `digits`, `mnist[:FOLDER]`, a `.npz` file, an image folder, a
    text file (`.txt` one sentence a line, or `.jsonl` with a "text" field) or
    `module:function`.

    A text file is tokenized by the tokenizer of `model` (`hf:FOLDER`), into padded batches
    of at most `max_length` tokens (exactly `max_length` with `fixed_length`); its task is
    `task` (default: embedding). For other sources `task` replaces the source's task.
    """
    if Path(spec).suffix in TEXT_SUFFIXES:
        if model is None or not str(model).startswith("hf:"):
            raise UserError(
                f"text data '{spec}' needs a tokenizer",
                "pass the model as --model hf:FOLDER (its folder's tokenizer is used)",
            )
        return text_data(
            spec, str(model).removeprefix("hf:"), task=task or "embedding",
            max_length=max_length, fixed_length=fixed_length, seed=seed,
            batch_size=min(batch_size, 32),
        )  # fmt: skip
    data = _load_source(spec, seed=seed, batch_size=batch_size)
    if task is not None and task != data.task:
        spec_ = get_task(task)
        pooled = ("last_hidden_state", "mean") if spec_.pooled else (None, None)
        data = dataclasses.replace(data, task=task, adapter=ModelAdapter(*pooled))
    return data


def _load_source(spec: str, *, seed: int, batch_size: int) -> Data:
    if spec == "digits":
        return digits(seed=seed, batch_size=batch_size)
    if spec == "mnist" or spec.startswith("mnist:"):
        return mnist(spec.partition(":")[2] or "data", seed=seed, batch_size=batch_size)
    path = Path(spec)
    if path.suffix == ".npz":
        return npz(path, seed=seed, batch_size=batch_size)
    if path.is_dir():
        return image_folder(path, seed=seed, batch_size=batch_size)
    if is_factory_spec(spec):
        factory = import_factory(spec, "data")
        try:
            data = factory()
        except UserError:
            raise
        except Exception as exc:
            raise UserError(
                f"data factory '{spec}' raised {type(exc).__name__}: {exc}",
                "fix the factory so it returns a weightlight.data.Data",
            ) from None
        if not isinstance(data, Data):
            raise UserError(
                f"data factory '{spec}' returned {type(data).__name__}, not a Data",
                "return weightlight.data.from_tensors(...) or from_arrays(...)",
            )
        return data
    if path.exists():
        raise UserError(
            f"data file '{spec}' has an unsupported type",
            "use a .npz file (x, y), a .txt / .jsonl text file, a class-per-folder image "
            "directory, or module:function",
        )
    raise UserError(
        f"unknown data source '{spec}' (not a file, folder or module:function)",
        "use 'digits', mnist:FOLDER, a .npz file, an image folder, or mypkg.mod:make_data",
    )
