"""`--model hf:FOLDER --data sentences.txt`: the command line on a Hugging Face encoder."""

from __future__ import annotations

import json

import pytest
import torch
from transformer_helpers import save_tiny_bert_folder, tiny_bert, write_sentences

import weightlight as wl
from weightlight.data import text_data
from weightlight.text import read_texts

pytest.importorskip("transformers")

RECIPE = """\
name: enc
stages:
  - export: {format: onnx, optimize: all}
    name: onnx
  - export: {format: onnx, optimize: all, quantize: dynamic_int8}
    name: onnx-int8
    from: base
measure: {batch_sizes: [1], runs: 3, warmup: 1}
baselines: false
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_bert_folder(tmp_path_factory.mktemp("hf") / "tiny-bert")


def test_hf_folder_loads_offline_as_saved(folder):
    model = wl.models.load_model(f"hf:{folder}")
    ids = torch.tensor([[2, 7, 9, 3]])
    with torch.no_grad():
        expected = tiny_bert()(input_ids=ids).last_hidden_state
        assert torch.equal(model(input_ids=ids).last_hidden_state, expected)


def test_text_and_jsonl_sources_give_padded_dict_batches(folder, tmp_path):
    txt = write_sentences(tmp_path / "s.txt", n=40)
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t}) + "\n" for t in read_texts(txt)))
    assert read_texts(jsonl) == read_texts(txt)
    data = text_data(txt, folder, max_length=8, batch_size=16)
    assert data.task == "embedding" and len(data.eval.dataset) == 8  # 20 % held out
    # 15 % of the other 32 validate (selection never sees the test sentences), 27 train.
    assert (len(data.val.dataset), len(data.train.dataset)) == (5, 27)
    assert not set(data.val.dataset) & set(data.eval.dataset)
    assert not set(data.val.dataset) & set(data.train.dataset)
    batch = next(iter(data.train))
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    assert batch["input_ids"].shape[1] <= 8  # truncated to max_length
    assert (batch["attention_mask"] == 0).any()  # padded to the longest in the batch
    fixed = text_data(txt, folder, max_length=16, fixed_length=True)
    assert {b["input_ids"].shape[1] for b in fixed.train} == {16}


@pytest.mark.slow
def test_cli_run_on_hf_folder_and_text_file(folder, tmp_path, run_cli):
    (tmp_path / "r.yaml").write_text(RECIPE)
    txt = write_sentences(tmp_path / "s.txt", n=40)
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        "run", tmp_path / "r.yaml", "--model", f"hf:{folder}", "--data", txt, "--out", out
    )
    assert code == 0, err + stdout
    rows = {
        r["name"]: r["measurement"]
        for r in map(json.loads, (out / "variants.jsonl").read_text().splitlines())
    }
    assert set(rows) == {"base", "onnx", "onnx-int8"}
    assert rows["base"]["metric_name"] == "cosine vs base (x100)"
    assert rows["base"]["metric"] == pytest.approx(100.0, abs=1e-4)
    assert rows["onnx"]["metric"] == pytest.approx(100.0, abs=1e-3)
    assert 90.0 < rows["onnx-int8"]["metric"] < 100.0
    assert rows["onnx-int8"]["metric_worst"] <= rows["onnx-int8"]["metric"]


@pytest.mark.slow
def test_cli_search_on_hf_folder_and_text_file(folder, tmp_path, run_cli):
    txt = write_sentences(tmp_path / "s.txt", n=40)
    out = tmp_path / "search"
    code, stdout, err = run_cli(
        "search", "--model", f"hf:{folder}", "--data", txt, "--space", "bert",
        "--trials", "2", "--max-drop", "5", "--seed", "0", "--out", out,
    )  # fmt: skip
    assert code == 0, err + stdout
    result = json.loads((out / "search.json").read_text())
    assert result["base_metric"] == pytest.approx(100.0, abs=1e-4)
    assert len(result["trials"]) == 2
    assert all(0.0 <= t["metric_drop"] < 10.0 for t in result["trials"])
