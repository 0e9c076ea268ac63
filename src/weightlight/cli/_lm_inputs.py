"""The model and data of a language-model run: the embedded LM (`tiny_llama` on
`python-docs`), or the user's causal LM (`hf:FOLDER`) on Python's docstrings."""

from __future__ import annotations

from pathlib import Path

from weightlight.errors import UserError
from weightlight.lm.embedded import DATA_NAME, MODEL_NAME


def is_embedded(model: str, data: str) -> bool:
    """Whether the run needs the embedded LM or its text (neither is a registry entry)."""
    return model == MODEL_NAME or data == DATA_NAME


def load(model: str, data: str, weights: Path | None, folder: Path, epochs, console):
    """(base model, Data, factory that reloads the base's architecture)."""
    from weightlight.lm.embedded import embedded_lm, python_docs_data
    from weightlight.models.hf import is_hf_spec, load_hf
    from weightlight.text import load_tokenizer

    if weights is not None:
        raise UserError(
            f"--weights does not apply to {MODEL_NAME} or {DATA_NAME}",
            "pass your trained causal LM as --model hf:FOLDER",
        )
    if model == MODEL_NAME:
        if data != DATA_NAME:
            raise UserError(
                f"the built-in {MODEL_NAME} trains on {DATA_NAME}, not '{data}'",
                f"drop --data, or bring your own causal LM: --model hf:FOLDER --data {data}",
            )
        base, dataset, hf_folder = embedded_lm(
            folder / "cache", epochs=epochs, on_train=console.print
        )
        return base, dataset, f"hf:{hf_folder}"
    if not is_hf_spec(model):
        raise UserError(
            f"{DATA_NAME} is tokenized by the model's own tokenizer; '{model}' has none",
            "pass a causal LM folder as --model hf:FOLDER",
        )
    tokenizer = load_tokenizer(model.removeprefix("hf:"))
    return load_hf(model), python_docs_data(tokenizer), model
