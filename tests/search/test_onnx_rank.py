"""Ranking ONNX nodes for ORT int8 (export/onnx_rank.py) on a small BERT built from a config.

One FFN-output MatMul is made fragile the way real encoders are (one huge post-GELU channel
stretches the per-tensor activation range, so int8 rounds every other channel coarsely); the
ranking must find it while quantizing only a few nodes alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import weightlight as wl
from weightlight.data import from_loaders
from weightlight.export.onnx_rank import fake_quant_activation, fake_quant_weight, rank_onnx_nodes

transformers = pytest.importorskip("transformers")
FRAGILE = "/encoder/layer.0/output/dense/MatMul"


def collate(seqs: list[torch.Tensor]) -> dict:
    width = max(len(s) for s in seqs)
    ids, mask = torch.zeros(len(seqs), width, dtype=torch.long), torch.zeros(len(seqs), width)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = s, 1
    return {"input_ids": ids, "attention_mask": mask.long()}


def loader(n: int, seed: int) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    seqs = [
        torch.randint(1, 100, (int(k),), generator=g)
        for k in torch.randint(4, 16, (n,), generator=g)
    ]
    return DataLoader(seqs, batch_size=8, collate_fn=collate)


@pytest.fixture(scope="module")
def fragile_bert(tmp_path_factory):
    """A 2-layer BERT (hidden 64) whose layer-0 FFN output MatMul has one outlier input channel
    (bias +40 before GELU; its outgoing weights zeroed, so it feeds nothing in fp32), and FFN
    output weights 30x the init's, so that block's output weighs in the residual stream as in
    a trained encoder."""
    config = transformers.BertConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
        vocab_size=100, max_position_embeddings=64, attn_implementation="eager",
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    with torch.no_grad():
        ffn = model.encoder.layer[0]
        ffn.output.dense.weight *= 30  # the FFN output weighs in the residual stream
        ffn.intermediate.dense.bias[5] = 40.0
        ffn.output.dense.weight[:, 5] = 0.0
    data = from_loaders(loader(48, 1), loader(24, 2), task="embedding")
    fp32 = wl.export.onnx(model, data, tmp_path_factory.mktemp("rank") / "bert.onnx")
    return model, data, fp32


def test_the_fragile_node_is_found_with_two_nodes_quantized_alone(fragile_bert):
    _, data, fp32 = fragile_bert
    steps = []
    ranked = rank_onnx_nodes(fp32, data, wl.export.OrtDynamicInt8(), measure_top=2,
                             on_progress=lambda done, total, step: steps.append(step))  # fmt: skip
    assert len(ranked.proxy) == 9  # 2 x (Attention + 3 MatMul) + EmbedLayerNormalization
    assert ranked.names[0].endswith(FRAGILE) and ranked.proxy[0][0] == ranked.names[0]
    (worst, cosine), (_, next_cosine) = ranked.measured
    assert worst == ranked.names[0]
    assert cosine < 0.995 < next_cosine  # measured 0.9873 vs 0.99997 (dynamic int8, alone)
    # the unmeasured nodes follow in proxy order; the progress names each node quantized
    assert ranked.names[2:] == [n for n, _ in ranked.proxy if n not in ranked.names[:2]]
    assert steps[1:3] == [n for n, _ in ranked.proxy[:2]] and len(steps) == 4


def test_proxy_error_matches_ort_dynamic_int8_on_one_matmul(tmp_path):
    """The proxy's fake-quantization is ORT's: one MatMul with an outlier input channel,
    quantized by ORT, moves its output by the relative error the proxy predicts."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.05, (32, 16)).astype(np.float32)
    w[3] = 0  # the outlier channel below feeds nothing: the error is all the other channels'
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 16])],
        [numpy_helper.from_array(w, "w")],
    )  # fmt: skip
    path = tmp_path / "mm.onnx"
    import onnx

    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    x = rng.normal(0, 1, (64, 32)).astype(np.float32)
    x[:, 3] += 20  # one outlier channel stretches the activation range
    xs = torch.from_numpy(x)
    data = from_loaders(DataLoader(xs, batch_size=64), DataLoader(xs, batch_size=64))
    config = wl.export.OrtDynamicInt8(reduce_range=False)
    fp32 = wl.export.OrtModel(path, optimize="none")
    q = wl.export.quantize_onnx(fp32, data, tmp_path / "q.onnx", config)
    exact, int8 = fp32.run(xs).numpy(), q.run(xs).numpy()
    ort_error = np.linalg.norm(int8 - exact) / np.linalg.norm(exact)
    proxy = rank_onnx_nodes(fp32, data, config, measure_top=0).proxy
    assert proxy[0][0] == "mm" and ort_error > 0.02
    assert proxy[0][1] == pytest.approx(ort_error, rel=0.01)  # measured equal to 6 digits


def test_fake_quantization_round_trips_representable_values():
    w = np.array([[0.5, -1.0], [0.25, 0.002]])
    assert np.allclose(fake_quant_weight(w, 8, axis=1)[:, 0], [0.5, 0.25], atol=0.5 / 127 / 2)
    assert fake_quant_weight(w, 8, axis=1)[1, 1] == 0.0  # below half a step of |-1.0|/127
    x = np.array([-1.0, 0.0, 1.55])
    assert np.allclose(fake_quant_activation(x), x, atol=2.55 / 255 / 2)
    assert fake_quant_activation(np.array([5.0, 7.0]))[0] == pytest.approx(5.0, abs=7 / 255)
