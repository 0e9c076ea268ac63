"""A small BERT (transformers.BertConfig, random weights): export, fusions, dynamic int8."""

from __future__ import annotations

import onnx
import pytest
import torch

import weightlight as wl

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def bert_and_tokens():
    config = transformers.BertConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
        vocab_size=100, num_labels=3, attn_implementation="eager",
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config).eval()
    g = torch.Generator().manual_seed(0)
    ids, labels = (
        torch.randint(0, 100, (160, 16), generator=g),
        torch.randint(0, 3, (160,), generator=g),
    )
    data = wl.data.from_tensors(ids[:96], labels[:96], ids[96:], labels[96:], name="tokens")
    return model, data


@pytest.fixture(scope="module")
def bert_onnx(bert_and_tokens, tmp_path_factory):
    model, data = bert_and_tokens
    return wl.export.onnx(model, data, tmp_path_factory.mktemp("bert") / "bert.onnx")


def test_bert_export_parity_and_fusions(bert_onnx):
    assert bert_onnx.parity.max_abs < 1e-4
    assert bert_onnx.parity.top1_agreement == 100.0
    assert bert_onnx.exporter == "legacy"  # ORT fuses Attention only in its graphs
    assert bert_onnx.fusions == {
        "EmbedLayerNormalization": 1, "Attention": 2, "BiasGelu": 2, "SkipLayerNormalization": 4,
    }  # fmt: skip
    ops = {n.op_type for n in onnx.load(str(bert_onnx.path)).graph.node}
    assert {"Attention", "EmbedLayerNormalization", "SkipLayerNormalization"} <= ops


def test_bert_sequence_axis_is_dynamic(bert_onnx, bert_and_tokens):
    model, _ = bert_and_tokens
    ids = torch.randint(0, 100, (3, 9))
    with torch.inference_mode():
        expected = model(ids).logits
    assert torch.allclose(bert_onnx.run(ids), expected, atol=1e-4)


def test_bert_dynamic_int8_fidelity(bert_onnx, bert_and_tokens, tmp_path):
    _, data = bert_and_tokens
    q = wl.export.quantize_onnx(bert_onnx, data, tmp_path / "q.onnx", wl.export.OrtDynamicInt8())
    assert q.parity.mean_cosine > 0.999  # measured 0.99977 vs the fp32 ONNX model
    assert q.parity.min_cosine > 0.99
    assert q.parity.top1_agreement >= 95.0
    ops = {n.op_type for n in onnx.load(str(q.path)).graph.node}
    assert ops & {"QAttention", "DynamicQuantizeMatMul", "MatMulInteger"}
    assert q.path.stat().st_size < 0.5 * bert_onnx.path.stat().st_size


def test_onnx_node_sensitivity_ranks_the_fused_graphs_int8_nodes(bert_and_tokens):
    """Names are the fused graph's (what exclude_nodes takes), most fragile first; every node
    has a proxy error, and the measured ones a real cosine below 1."""
    model, data = bert_and_tokens
    config = wl.export.Export(optimize="all", quantize="dynamic_int8")
    ranked = wl.search.onnx_quantization_sensitivity(model, data, config, measure_top=3)
    names = ranked.names
    # 2 layers x (Attention + 3 MatMul) + EmbedLayerNormalization + the classifier's Gemm/MatMul
    assert {"Attention_0", "Attention_1", "EmbedLayerNormalization_0"} <= set(names)
    assert sum(n.endswith("/MatMul") for n in names) >= 6
    assert sorted(names) == sorted(n for n, _ in ranked.proxy)
    cosines = [c for _, c in ranked.measured]
    assert len(cosines) == 3 and [n for n, _ in ranked.measured] == names[:3]
    assert cosines == sorted(cosines) and all(0.9 < c <= 1.0 for c in cosines)
    assert cosines[0] < 1.0
    # the names are usable: excluding the most fragile node is accepted by the export stage
    kept = config.model_copy(update={"exclude_nodes": tuple(names[:1])})
    assert kept.quant_config().exclude_nodes == (names[0],)
