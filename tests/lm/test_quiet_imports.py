"""The CLI prints nothing for optional libraries that merely load: with torchao installed,
transformers imports it whenever a model is built, and torchao logs one "Failed to load" line
per GPU kernel library on a CPU-only machine."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

BUILD = """
import sys
from weightlight.cli import _app
if sys.argv[1] == "quiet":
    _app._quiet_optional_libraries()
import transformers
config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                                  num_hidden_layers=1, num_attention_heads=2)
transformers.LlamaForCausalLM(config)
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torchao") is None, reason="needs torchao ([ao])")
def test_building_a_model_prints_nothing_from_torchao() -> None:
    def stderr(mode: str) -> str:
        run = subprocess.run([sys.executable, "-c", BUILD, mode], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stderr

    loud = stderr("loud")
    if "torchao" not in loud:
        pytest.skip("this torchao build loads all its kernel libraries: nothing to silence")
    assert stderr("quiet") == ""
