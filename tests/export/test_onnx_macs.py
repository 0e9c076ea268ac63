"""MACs of hand-built ONNX graphs against hand-computed counts; unknown weighted ops give None."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import weightlight as wl
from weightlight.export.onnx_macs import count_onnx_macs

F = TensorProto.FLOAT
MS = "com.microsoft"


def _weight(name: str, *shape: int, dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.zeros(shape, dtype=dtype), name)


def _save(tmp_path, nodes, x_shape, inits, out_shape=None, domains=()):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", F, x_shape)],
        [helper.make_tensor_value_info("y", F, out_shape)], initializer=inits,
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, 1) for d in domains]
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=opsets), path)
    return path


def test_conv_transpose(tmp_path):
    # x (1, 4, 5, 5), w (4, 6, 3, 3): every input element feeds 6 x 3 x 3 outputs.
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"])
    path = _save(tmp_path, [node], [1, 4, 5, 5], [_weight("w", 4, 6, 3, 3)])
    assert count_onnx_macs(path, (1, 4, 5, 5)) == 4 * 5 * 5 * 6 * 3 * 3


def test_gemm_with_transposed_a(tmp_path):
    node = helper.make_node("Gemm", ["x", "w"], ["y"], transA=1)
    path = _save(tmp_path, [node], [7, 3], [_weight("w", 7, 5)])  # A^T (3, 7) x (7, 5)
    assert count_onnx_macs(path, (7, 3)) == 3 * 5 * 7


def test_einsum_of_two_operands(tmp_path):
    node = helper.make_node("Einsum", ["x", "w"], ["y"], equation="bij,jk->bik")
    path = _save(tmp_path, [node], [2, 3, 4], [_weight("w", 4, 5)])
    assert count_onnx_macs(path, (2, 3, 4)) == 2 * 3 * 4 * 5


def test_matmul_integer_and_qlinear_matmul(tmp_path):
    zp8 = numpy_helper.from_array(np.array(0, dtype=np.uint8), "zp")
    s = numpy_helper.from_array(np.array(1.0, dtype=np.float32), "s")
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"]),
        helper.make_node("MatMulInteger", ["xq", "w8", "zp", "zp"], ["i32"]),
        helper.make_node("QLinearMatMul", ["xq", "s", "zp", "w8b", "s", "zp", "s", "zp"], ["q2"]),
        helper.make_node("DequantizeLinear", ["q2", "s", "zp"], ["y"]),
    ]
    inits = [zp8, s, _weight("w8", 8, 6, dtype=np.uint8), _weight("w8b", 8, 3, dtype=np.uint8)]
    path = _save(tmp_path, nodes, [4, 8], inits)
    assert count_onnx_macs(path, (4, 8)) == 4 * 8 * 6 + 4 * 8 * 3


def test_conv_integer(tmp_path):
    nodes = [helper.make_node("ConvInteger", ["xq", "w8"], ["i32"]),
             helper.make_node("Cast", ["i32"], ["y"], to=F)]  # fmt: skip
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("xq", TensorProto.UINT8, [1, 2, 6, 6])],
        [helper.make_tensor_value_info("y", F, None)], [_weight("w8", 3, 2, 3, 3, dtype=np.uint8)],
    )  # fmt: skip
    path = tmp_path / "c.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    assert count_onnx_macs(path, (1, 2, 6, 6)) == 3 * 4 * 4 * 2 * 3 * 3


def test_matmul_nbits_uses_its_k_attribute(tmp_path):
    # B is packed 4-bit (N=6, K=16, block 16): its stored shape says nothing about K.
    node = helper.make_node("MatMulNBits", ["x", "b", "sc"], ["y"], domain=MS,
                            K=16, N=6, bits=4, block_size=16)  # fmt: skip
    inits = [_weight("b", 6, 1, 8, dtype=np.uint8), _weight("sc", 6)]
    path = _save(tmp_path, [node], [3, 16], inits, out_shape=[3, 6], domains=[MS])
    assert count_onnx_macs(path, (3, 16)) == 3 * 6 * 16


@pytest.mark.parametrize("op", ["Attention", "QAttention"])
def test_fused_attention(tmp_path, op):
    # batch 2, seq 5, hidden 8 (2 heads): QKV projection 2*5*8*24, scores and mix 2*2*5*5*8.
    inputs = ["x", "w", "bias"] + (["s", "s", "", "zp", "zp"] if op == "QAttention" else [])
    node = helper.make_node(op, inputs, ["y"], domain=MS, num_heads=2)
    inits = [_weight("w", 8, 24), _weight("bias", 24)]
    if op == "QAttention":
        inits += [numpy_helper.from_array(np.array(1.0, dtype=np.float32), "s"),
                  numpy_helper.from_array(np.array(0, dtype=np.uint8), "zp")]  # fmt: skip
    path = _save(tmp_path, [node], [2, 5, 8], inits, out_shape=[2, 5, 8], domains=[MS])
    assert count_onnx_macs(path, (2, 5, 8)) == 2 * 5 * 8 * 24 + 2 * 2 * 5 * 5 * 8


def test_multi_head_attention(tmp_path):
    # q (2, 5, 8) against k, v (2, 7, 8): QK^T 2*5*7*8 and attention x V 2*5*7*8.
    node = helper.make_node("MultiHeadAttention", ["x", "k", "v"], ["y"], domain=MS, num_heads=2)
    inits = [_weight("k", 2, 7, 8), _weight("v", 2, 7, 8)]
    path = _save(tmp_path, [node], [2, 5, 8], inits, out_shape=[2, 5, 8], domains=[MS])
    assert count_onnx_macs(path, (2, 5, 8)) == 2 * (2 * 5 * 7 * 8)


def test_an_unknown_op_with_weights_makes_the_count_unknown(tmp_path):
    # An LSTM multiplies by its weights, but is not counted: the total must not pretend.
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("LSTM", ["h", "W", "R"], ["y"], hidden_size=4)]  # fmt: skip
    inits = [_weight("w", 3, 3), _weight("W", 1, 16, 3), _weight("R", 1, 16, 4)]
    path = _save(tmp_path, nodes, [2, 1, 3], inits)
    assert count_onnx_macs(path, (2, 1, 3)) is None


def test_weightless_ops_add_nothing(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("Add", ["h", "pos"], ["y"])]  # fmt: skip
    path = _save(tmp_path, nodes, [2, 3], [_weight("w", 3, 4), _weight("pos", 2, 4)])
    assert count_onnx_macs(path, (2, 3)) == 2 * 3 * 4


def test_dynamic_quantize_matmul_and_a_qdq_matmul(tmp_path):
    # DynamicQuantizeMatMul (x (4, 8) x int8 (8, 6)) and DequantizeLinear(int8 W) -> MatMul.
    s = numpy_helper.from_array(np.array(1.0, dtype=np.float32), "s")
    zp = numpy_helper.from_array(np.array(0, dtype=np.int8), "zp")
    nodes = [
        helper.make_node("DynamicQuantizeMatMul", ["x", "w8", "s", "zp"], ["h"], domain=MS),
        helper.make_node("DequantizeLinear", ["w8b", "s", "zp"], ["wf"]),
        helper.make_node("MatMul", ["h", "wf"], ["y"]),
    ]
    inits = [s, zp, _weight("w8", 8, 6, dtype=np.int8), _weight("w8b", 6, 3, dtype=np.int8)]
    path = _save(tmp_path, nodes, [4, 8], inits, out_shape=[4, 3], domains=[MS])
    assert count_onnx_macs(path, (4, 8)) == 4 * 8 * 6 + 4 * 6 * 3


def test_packed_qkv_multi_head_attention(tmp_path):
    # q, k, v packed as (B=2, S=5, N=2, 3, H=4): QK^T and attention x V, 2 x 2*2*5*5*4.
    node = helper.make_node("MultiHeadAttention", ["x"], ["y"], domain=MS, num_heads=2)
    path = _save(tmp_path, [node], [2, 5, 2, 3, 4], [], out_shape=[2, 5, 8], domains=[MS])
    assert count_onnx_macs(path, (2, 5, 2, 3, 4)) == 2 * (2 * 2 * 5 * 5 * 4)


@pytest.fixture(scope="module")
def encoder_graphs(tmp_path_factory):
    """A tiny BERT (2 layers, hidden 64, 4 heads, FFN 128) exported with ORT's transformer
    fusions (EmbedLayerNormalization, Attention), in fp32 and dynamic int8 (QAttention,
    QEmbedLayerNormalization, MatMulInteger)."""
    transformers = pytest.importorskip("transformers")
    from weightlight.models.encoder import SentenceEncoder

    torch.manual_seed(0)
    config = transformers.BertConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
        vocab_size=100, max_position_embeddings=64, attn_implementation="eager",
    )  # fmt: skip
    encoder = SentenceEncoder(transformers.BertModel(config)).eval()
    ids = torch.randint(1, 100, (8, 12))
    y = torch.zeros(8, dtype=torch.long)
    data = wl.data.from_tensors(ids[:6], y[:6], ids[6:], y[6:], batch_size=2, name="tokens")
    out = tmp_path_factory.mktemp("enc")
    return {
        q: wl.export(encoder, wl.export.Export(optimize="all", quantize=q), data, out / f"{q}.onnx")
        for q in (None, "dynamic_int8")
    }


@pytest.mark.slow
@pytest.mark.parametrize("quantize", [None, "dynamic_int8"])
def test_a_fused_encoder_graph_is_counted_fp32_and_int8(encoder_graphs, quantize):
    model = encoder_graphs[quantize]
    ops = {n.op_type for n in onnx.load(str(model.path)).graph.node}
    fused = {"Attention", "EmbedLayerNormalization"} if quantize is None else {
        "QAttention", "QEmbedLayerNormalization", "MatMulInteger"}  # fmt: skip
    assert fused <= ops
    # Per layer at batch 1, 12 tokens: QKV 12*64*192, QK^T and attention x V 2*12*12*64,
    # attention output 12*64*64, FFN 2*12*64*128. (torch counts 4,096 more: BERT's pooler,
    # which the sentence encoder's graph does not hold.)
    per_layer = 12 * 64 * 192 + 2 * 12 * 12 * 64 + 12 * 64 * 64 + 2 * 12 * 64 * 128
    assert count_onnx_macs(model.path, {"input": (1, 12)}) == 2 * per_layer == 823_296
