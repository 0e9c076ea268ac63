"""torch static int8 (FX) on dict batches: a traceable model quantizes; a Hugging Face
BertModel, which torch.fx cannot trace, gets one line pointing to ONNX Runtime int8."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformer_helpers import (
    VOCAB,
    save_tiny_bert_folder,
    tiny_bert,
    token_loaders,
    write_sentences,
)

import weightlight as wl
from weightlight.data import from_loaders
from weightlight.errors import UserError

pytest.importorskip("transformers")


class MaskedBag(nn.Module):
    """A traceable token model: embeddings averaged over real tokens, then two Linears."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32)
        self.net = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 16))

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1)
        return self.net(pooled)


def test_a_traceable_model_quantizes_on_dict_batches():
    torch.manual_seed(0)
    model = MaskedBag().eval()
    data = from_loaders(*token_loaders(), task="embedding", output=None, pooling=None)
    int8 = wl.quantize(model, wl.quantize.StaticInt8(batches=2), data)
    int8_layers = [m for m in int8.modules() if isinstance(m, torch.ao.nn.quantized.Linear)]
    assert len(int8_layers) == 2  # Linear+ReLU (fused) and Linear both run int8 kernels
    assert not any(type(m) is nn.Linear for m in int8.modules())
    batch = next(iter(data.eval))
    with torch.no_grad():
        cosine = torch.nn.functional.cosine_similarity(int8(**batch), model(**batch), dim=1)
    assert float(cosine.min()) > 0.98  # int8 on these outputs, not a broken conversion


def test_bert_on_dict_batches_points_to_onnx_int8():
    data = from_loaders(*token_loaders(), task="embedding")
    with pytest.raises(UserError, match=r"could not trace BertModel.*dict batch.*quantize=") as err:
        wl.quantize(tiny_bert(eager=True), wl.quantize.StaticInt8(batches=2), data)
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_bert_folder(tmp_path_factory.mktemp("hf") / "tiny-bert")


@pytest.mark.slow
def test_cli_static_int8_on_a_text_file_exits_2_in_one_line(folder, tmp_path, run_cli):
    txt = write_sentences(tmp_path / "s.txt", n=24)
    code, _, err = run_cli("quantize", f"hf:{folder}", "--method", "static_int8",
                           "--data", txt, "--out", tmp_path / "q.pt")  # fmt: skip
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "ONNX Runtime int8" in lines[0] and "Traceback" not in err
