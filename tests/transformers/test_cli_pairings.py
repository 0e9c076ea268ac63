"""Bad model/data pairings from the command line: one line on stderr, exit code 2.

The Python API raises the same UserErrors (tests/bad_inputs/cases.yaml, `pairing-*`); here the
data comes from a user's `module:function` factory, as a CLI user would pass it.
"""

from __future__ import annotations

import pytest
from transformer_helpers import save_tiny_bert_folder

pytest.importorskip("transformers")

FACTORIES = """\
import sys
sys.path.insert(0, {helpers!r})
from transformer_helpers import token_loaders
from weightlight.data import from_loaders


def with_mask():
    return from_loaders(*token_loaders(), task="embedding")


def no_mask():
    return from_loaders(*token_loaders(with_mask=False), task="embedding")


def unknown_output():
    return from_loaders(*token_loaders(), task="embedding", output="pooled", pooling="mean")
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_bert_folder(tmp_path_factory.mktemp("hf") / "tiny-bert")


@pytest.mark.parametrize(
    ("model", "factory", "expect"),
    [
        ("mlp", "with_mask", "no input_ids, attention_mask"),  # a dict batch for an MLP
        ("bert", "no_mask", "no attention_mask"),
        ("bert", "unknown_output", "no output 'pooled'"),
    ],
)
def test_bad_pairing_is_one_line_and_exit_2(
    model, factory, expect, folder, tmp_path, monkeypatch, run_cli
):
    from pathlib import Path

    helpers = str(Path(__file__).parent)
    (tmp_path / "pairs.py").write_text(FACTORIES.format(helpers=helpers))
    monkeypatch.chdir(tmp_path)  # module:function factories import from the working directory
    spec = f"hf:{folder}" if model == "bert" else model
    code, out, err = run_cli("measure", spec, "--data", f"pairs:{factory}", "--runs", "3")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err + out
    assert len(lines) == 1 and expect in lines[0] and "Traceback" not in err
