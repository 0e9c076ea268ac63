"""MACs: int8 torch models count their packed weights' shapes; CPU SDPA attention counts too."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import weightlight as wl
from weightlight.measure.flops import count_macs


def _dynamic_int8(model: nn.Module) -> nn.Module:
    with warnings.catch_warnings():  # torch.ao's deprecation notice
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def test_a_dynamic_int8_linear_model_counts_its_int8_matmuls():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    expected = 3 * 8 * 16 + 3 * 16 * 4  # batch 3: out elements x in_features, per layer
    assert count_macs(model, torch.zeros(3, 8)) == expected
    assert count_macs(_dynamic_int8(model), torch.zeros(3, 8)) == expected


def test_a_static_int8_cnn_counts_what_its_fp32_source_does(digits):
    cnn = wl.models.mnist_cnn().eval()
    int8 = wl.quantize(cnn, {"method": "static_int8"}, digits)
    x = digits.example_batch(1)
    # conv 1->32 3x3 on 26x26, conv 32->64 3x3 on 24x24, fc 9216->128, fc 128->10
    expected = 26 * 26 * 32 * 9 + 24 * 24 * 64 * 32 * 9 + 9216 * 128 + 128 * 10
    assert count_macs(cnn, x) == count_macs(int8, x) == expected == 11_992_448


def _bert(attention: str, heads: int = 4) -> nn.Module:
    import transformers as t

    torch.manual_seed(0)
    config = t.BertConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
        vocab_size=100, attn_implementation=attention,
    )  # fmt: skip
    model = t.BertModel(config).eval()
    if heads < 4:  # keep `heads` of 4 heads of 16 (the head size stays)
        data = _tokens_data()
        model = wl.prune(model, wl.prune.Structured(ratio=0, head_ratio=1 - heads / 4), data)
    return model


def _tokens_data():
    ids = torch.randint(1, 100, (8, 12), generator=torch.Generator().manual_seed(0))
    batches = [{"input_ids": ids, "attention_mask": torch.ones_like(ids)}]
    return wl.data.from_loaders(batches, batches, task="embedding")


def _bert_macs_by_hand(tokens: int, heads: int) -> int:
    hidden, width, ffn = 64, heads * 16, 128
    projections = 3 * tokens * hidden * width + tokens * width * hidden  # q, k, v, output
    attention = 2 * tokens * tokens * width  # QK^T and AV, every head over every token
    block = projections + attention + 2 * tokens * hidden * ffn
    return 2 * block + hidden * hidden  # 2 blocks + the pooler on the first token


@pytest.mark.parametrize("heads", [4, 3])
def test_bert_macs_by_hand_with_sdpa_and_eager_attention(heads):
    """transformers' default "sdpa" attention runs aten's CPU attention kernel, which torch's
    counter does not know: without `_cpu_sdpa_flops` the attention products (2 x 64 x 64 x
    width per block) were missing, and pruning heads seemed to shrink the projections only."""
    pytest.importorskip("transformers")
    batch = {"input_ids": torch.randint(1, 100, (1, 64)),
             "attention_mask": torch.ones(1, 64, dtype=torch.long)}  # fmt: skip
    expected = _bert_macs_by_hand(64, heads)
    assert count_macs(_bert("eager", heads), batch) == expected
    assert count_macs(_bert("sdpa", heads), batch) == expected
