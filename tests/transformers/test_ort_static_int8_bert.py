"""ONNX Runtime static int8 of a BERT classifier. Without ORT's pre-processing (which fails on
some exported transformers), ONNX shape inference cannot type what follows the fused
contrib ops, and ORT's quantizer crashed on the classifier's bias; the untyped tensors now
get their types from one ORT run, and any other quantizer failure is one line naming a node."""

from __future__ import annotations

import onnx
import pytest
import torch
from transformer_helpers import VOCAB, token_loaders

import weightlight as wl
from weightlight.data import from_loaders
from weightlight.errors import UserError
from weightlight.export import Export, OrtStaticInt8

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def bert_fp32(tmp_path_factory):
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        vocab_size=VOCAB, max_position_embeddings=64, pad_token_id=0, num_labels=3,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config).eval()
    data = from_loaders(*token_loaders(), output="logits", num_classes=3)
    path = tmp_path_factory.mktemp("ort") / "bert.onnx"
    return wl.export(model, Export(), data, path), data


def classifier_input_is_quantized(path) -> bool:
    graph = onnx.load(str(path)).graph
    producer = {o: n for n in graph.node for o in n.output}
    gemm = next(n for n in graph.node if "classifier" in n.name and n.op_type in ("Gemm", "MatMul"))
    return producer[gemm.input[0]].op_type == "DequantizeLinear"


@pytest.mark.parametrize("preprocess", [True, False])
def test_ort_static_int8_of_a_bert_classifier(bert_fp32, tmp_path, preprocess):
    fp32, data = bert_fp32
    int8 = wl.export.quantize_onnx(
        fp32, data, tmp_path / "bert.int8.onnx", OrtStaticInt8(preprocess=preprocess)
    )
    report = int8.parity
    # 24 held-out sentences; random weights give close logits, so one flip is 4.2 points
    assert report.mean_cosine > 0.99 and report.min_cosine > 0.97, report
    assert report.top1_agreement >= 87.5, report
    assert classifier_input_is_quantized(int8.path)  # the pooler output enters int8


def test_an_ort_quantizer_failure_is_one_line_naming_the_node(bert_fp32, tmp_path, monkeypatch):
    import onnxruntime.quantization as q

    def fails(*args, **kwargs):
        raise ValueError("Unable to get valid quantization scale for bias 'model.classifier.bias'")

    monkeypatch.setattr(q, "quantize_static", fails)
    fp32, data = bert_fp32
    with pytest.raises(UserError) as err:
        wl.export.quantize_onnx(fp32, data, tmp_path / "x.int8.onnx", OrtStaticInt8())
    message = str(err.value)
    assert "\n" not in message and "ONNX Runtime ort_static_int8 failed at node '" in message
    assert "classifier" in message.split("at node")[1] and "exclude_nodes=['" in message
