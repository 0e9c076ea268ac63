"""A pruned / smoothed encoder exports with ORT's fusions; FFN-output nodes; MatMulNBits."""

from __future__ import annotations

import onnx
import pytest
import torch

import weightlight as wl
from weightlight.errors import UserError
from weightlight.export.ort_nbits import quantize_nbits
from weightlight.export.transformer import ffn_output_nodes
from weightlight.quantize.smooth import smooth_encoder


def token_data(batches) -> wl.data.Data:
    """Unpadded 12-token windows: what `wl.export.onnx` needs for its example and parity."""
    stream = torch.cat([b["input_ids"][b["attention_mask"].bool()] for b in batches])
    x = stream[:96].view(8, 12)
    y = torch.zeros(8, dtype=torch.long)
    return wl.data.from_tensors(x[:6], y[:6], x[6:], y[6:], batch_size=2, name="tokens")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, batches):
    from encoder_helpers import pruned_encoder, tiny_encoder

    encoder = tiny_encoder()
    pruned = smooth_encoder(
        pruned_encoder(encoder, batches, head_ratio=0.5, ffn_ratio=0.5), batches
    )
    return wl.export.onnx(pruned, token_data(batches), tmp_path_factory.mktemp("enc") / "e.onnx")


def test_pruned_heads_still_fuse_and_match_torch(exported):
    """2 of 4 heads left: the fusion must use the pruned count, not the config's 4 (with the
    config's count ORT's Attention op computes garbage and parity fails)."""
    assert exported.fusions["Attention"] == 2 and exported.parity.ok


def test_ffn_output_nodes_are_found_behind_the_smoothing_mul(exported):
    names = ffn_output_nodes(exported.path)
    assert len(names) == 2 and all("output/dense" in n for n in names)


def test_matmul_nbits_replaces_every_weight_matmul(exported, tmp_path, batches):
    graph = onnx.load(str(exported.path)).graph
    weights = {i.name for i in graph.initializer}
    matmuls = [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    q = quantize_nbits(exported, tmp_path / "q4.onnx", bits=4, block_size=16)
    ops = [n.op_type for n in onnx.load(str(q.path)).graph.node]
    assert ops.count("MatMulNBits") == len(matmuls) == 6  # attention-out, FFN in, FFN out x 2
    kept = quantize_nbits(exported, tmp_path / "q8.onnx", bits=8, exclude_nodes=(matmuls[0].name,))
    assert [n.op_type for n in onnx.load(str(kept.path)).graph.node].count("MatMulNBits") == 5
    x = token_data(batches).example_batch(2)
    fp32, q4, q8 = exported.run(x), q.run(x), kept.run(x)
    cos = torch.nn.functional.cosine_similarity
    assert float(cos(fp32.flatten(1), q8.flatten(1)).min()) > 0.999  # 8 bits: near exact
    assert float(cos(fp32.flatten(1), q4.flatten(1)).min()) > 0.99  # 4 bits: close ...
    assert float((fp32 - q4).abs().max()) > 10 * float((fp32 - q8).abs().max())  # ... but coarser


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"bits": 3}, "bits"), ({"block_size": 24}, "block_size"),
     ({"exclude_nodes": ("nope",)}, "not nodes")],
)  # fmt: skip
def test_bad_nbits_arguments_are_user_errors(exported, tmp_path, kwargs, match):
    with pytest.raises(UserError, match=match):
        quantize_nbits(exported, tmp_path / "q.onnx", **kwargs)
    assert not (tmp_path / "q.onnx").exists()
