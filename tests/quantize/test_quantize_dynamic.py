"""Dynamic int8 on a small BERT and an LSTM: runs, and stays close to fp32."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import weightlight as wl
from weightlight.quantize import Dynamic


def _compare(ref: torch.Tensor, out: torch.Tensor) -> tuple[float, float]:
    """(mean cosine over the last dim, max abs error relative to the max |ref|)."""
    cos = F.cosine_similarity(ref.flatten(0, -2), out.flatten(0, -2), dim=-1).mean()
    return float(cos), float((ref - out).abs().max() / ref.abs().max())


@pytest.fixture(scope="module")
def bert():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
        vocab_size=100, max_position_embeddings=64,
    )  # fmt: skip
    return BertModel(config).eval()


def test_dynamic_int8_bert_outputs_stay_close(bert):
    q = wl.quantize(bert, Dynamic(layer_types=("Linear",)))
    linears = [m for m in q.modules() if "dynamic" in type(m).__module__]
    assert len(linears) == 2 * 6 + 1  # q,k,v,attn-out,ffn-in,ffn-out per layer + pooler
    ids = torch.randint(1, 100, (4, 32), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ref, out = bert(ids).last_hidden_state, q(ids).last_hidden_state
    cos, rel = _compare(ref, out)
    assert cos > 0.999 and rel < 0.05, (cos, rel)


class _LSTMNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 64, num_layers=2, batch_first=True)
        self.gru = nn.GRU(64, 32, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(self.lstm(x)[0])[0])


def test_dynamic_int8_lstm_gru_outputs_stay_close():
    torch.manual_seed(0)
    net = _LSTMNet().eval()
    q = wl.quantize(net, Dynamic())
    assert "dynamic" in type(q.lstm).__module__ and "dynamic" in type(q.gru).__module__
    x = torch.randn(4, 20, 16, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref, out = net(x), q(x)
    cos, rel = _compare(ref, out)
    assert cos > 0.995 and rel < 0.05, (cos, rel)
