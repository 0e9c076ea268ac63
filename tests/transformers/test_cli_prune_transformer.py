"""`weightlight prune hf:FOLDER --head-ratio ... --out FOLDER`: heads, FFN and blocks from the
command line, saved as a Hugging Face folder that reloads as `hf:`."""

from __future__ import annotations

import json

import pytest
import torch
from transformer_helpers import save_tiny_bert_folder, write_sentences

import weightlight as wl

pytest.importorskip("transformers")


@pytest.mark.slow  # two measured models (~15 s under load)
def test_prune_command_prunes_heads_ffn_and_blocks_of_an_hf_folder(run_cli, tmp_path):
    folder = save_tiny_bert_folder(tmp_path / "bert")
    text = write_sentences(tmp_path / "s.txt")
    out = tmp_path / "small"
    code, stdout, err = run_cli(
        "prune", f"hf:{folder}", "--data", text, "--out", out, "--ratio", "0.5",
        "--head-ratio", "0.5", "--layers", "1", "--importance", "activation",
    )  # fmt: skip
    assert code == 0, err
    config = json.loads((out / "config.json").read_text())
    assert (config["num_attention_heads"], config["head_dim"]) == (2, 8)  # 4 heads of 8 -> 2
    assert (config["intermediate_size"], config["num_hidden_layers"]) == (32, 1)
    small = wl.models.load_model(f"hf:{out}")
    with torch.no_grad():
        assert small(input_ids=torch.tensor([[2, 7, 9, 3]])).last_hidden_state.shape == (1, 4, 32)


@pytest.mark.parametrize(("args", "words"), [
    (["--method", "unstructured", "--head-ratio", "0.3"], "--head-ratio apply to --method"),
    (["--importance", "magic"], "Structured.importance"),
])  # fmt: skip
def test_transformer_options_misused_are_one_line(run_cli, tmp_path, args, words):
    code, _, err = run_cli("prune", "mnist_cnn", "--out", tmp_path / "x.safetensors", *args)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1
