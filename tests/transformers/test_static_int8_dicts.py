"""torch static int8 on dict batches: a traceable model quantizes through FX; a Hugging Face
BertModel, which torch.fx cannot trace, through torch.export (PT2E), also from the CLI."""

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


def test_bert_on_dict_batches_quantizes_through_torch_export():
    pytest.importorskip("torchao")
    data = from_loaders(*token_loaders(), task="embedding")
    model = tiny_bert(eager=True)
    int8 = wl.quantize(model, wl.quantize.StaticInt8(batches=2), data)
    assert int8.int8_ops() == 13  # 2 blocks x 6 Linears + the pooler, from int8 weights
    batch = next(iter(data.eval))
    with torch.no_grad():
        ref, got = model(**batch).last_hidden_state, int8(**batch).last_hidden_state
    cosine = torch.nn.functional.cosine_similarity(ref, got, dim=-1)
    assert float(cosine.min()) > 0.99


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_bert_folder(tmp_path_factory.mktemp("hf") / "tiny-bert")


@pytest.mark.slow
def test_cli_static_int8_of_a_hf_folder_on_a_text_file(folder, tmp_path, run_cli):
    pytest.importorskip("torchao")
    txt = write_sentences(tmp_path / "s.txt", n=24)
    code, out, err = run_cli("quantize", f"hf:{folder}", "--method", "static_int8",
                             "--data", txt, "--out", tmp_path / "q.pt")  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "q.pt").is_file() and "Traceback" not in err
