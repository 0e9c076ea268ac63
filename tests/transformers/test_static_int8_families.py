"""torch static int8 on Hugging Face families: torch.fx cannot trace them, torch.export can,
so StaticInt8 takes the PT2E path (torchao) and the result computes with int8 weights and
int8-quantized activations (checked in the graph), within a fidelity bound of fp32.
Where neither capture works, one line points to ONNX Runtime int8."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader
from transformer_helpers import VOCAB, token_loaders

import weightlight as wl
from weightlight.batch import split
from weightlight.data import from_loaders
from weightlight.errors import UserError
from weightlight.models.artifact import save_torch_artifact

transformers = pytest.importorskip("transformers")
pytest.importorskip("torchao")


def bert_cls():
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        vocab_size=VOCAB, max_position_embeddings=64, pad_token_id=0, num_labels=3,
    )  # fmt: skip
    return transformers.BertForSequenceClassification(config)


def roberta_cls():
    config = transformers.RobertaConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        vocab_size=VOCAB, max_position_embeddings=80, pad_token_id=1, num_labels=3,
    )  # fmt: skip
    return transformers.RobertaForSequenceClassification(config)


def gpt2_lm():
    config = transformers.GPT2Config(
        n_embd=32, n_layer=2, n_head=4, vocab_size=VOCAB, n_positions=64,
        bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    return transformers.GPT2LMHeadModel(config)


def vit_cls():
    config = transformers.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        image_size=32, patch_size=8, num_labels=5,
    )  # fmt: skip
    return transformers.ViTForImageClassification(config)


def resnet_cls():
    config = transformers.ResNetConfig(
        embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], num_labels=5, layer_type="basic"
    )
    return transformers.ResNetForImageClassification(config)


def image_data():
    g = torch.Generator().manual_seed(0)
    items = [{"pixel_values": x} for x in torch.randn(48, 3, 32, 32, generator=g)]
    train, held_out = DataLoader(items[:32], batch_size=8), DataLoader(items[32:], batch_size=8)
    return from_loaders(train, held_out, output="logits", num_classes=5)


def token_data(task="classification", **collate):
    train, held_out = token_loaders(**collate)
    if task == "causal_lm":
        return from_loaders(train, held_out, task="causal_lm")
    return from_loaders(train, held_out, output="logits", num_classes=3)


# family, data, the layers that must compute in int8 (every Linear / Conv: 2 blocks x 6
# Linears + pooler + classifier; GPT-2: 2 x 4 Conv1D projections + LM head; ResNet: 6 convs +
# classifier), the least top-1 agreement with fp32 and the least cosine of the logits.
FAMILIES = {
    "bert-cls": (bert_cls, lambda: token_data(), 14, 0.95, 0.99),
    "roberta-cls": (roberta_cls, lambda: token_data(with_types=False), 14, 0.95, 0.98),
    "gpt2-lm": (gpt2_lm, lambda: token_data("causal_lm", with_types=False), 9, 0.95, 0.99),
    "vit-cls": (vit_cls, image_data, 14, 0.95, 0.99),
    "resnet-cls": (resnet_cls, image_data, 7, 0.95, 0.99),
}


def logits(output) -> torch.Tensor:
    return output.logits if hasattr(output, "logits") else output


def agreement_and_cosine(model, int8, data) -> tuple[float, float]:
    agree, cosine = [], []
    with torch.no_grad():
        for batch in data.eval:
            inputs = split(batch)[0]
            ref, got = logits(model(**inputs)), logits(int8(**inputs))
            agree.append((ref.argmax(-1) == got.argmax(-1)).float().flatten())
            cosine.append(nn.functional.cosine_similarity(ref.flatten(1), got.flatten(1)))
    return float(torch.cat(agree).mean()), float(torch.cat(cosine).min())


@pytest.mark.slow  # ~5 s a family, mostly torch.export
@pytest.mark.parametrize("family", list(FAMILIES))
def test_static_int8_quantizes_the_family_through_torch_export(family):
    build, make_data, int8_layers, min_agreement, min_cosine = FAMILIES[family]
    torch.manual_seed(0)
    model, data = build().eval(), make_data()
    int8 = wl.quantize(model, wl.quantize.StaticInt8(batches=4), data)
    # every Linear / Conv computes from int8 weights on int8-quantized inputs
    assert int8.int8_ops() == int8_layers
    agreement, cosine = agreement_and_cosine(model, int8, data)
    assert agreement >= min_agreement and cosine > min_cosine, (agreement, cosine)
    # Batch size and sequence length stay dynamic: one sample of another length runs.
    first = split(next(iter(data.eval)))[0]
    one = {k: v[:1, :5] if v.dim() == 2 else v[:1] for k, v in first.items()}
    assert logits(int8(**one)).shape[0] == 1


def test_the_bert_classifier_saves_and_reloads_identically(tmp_path):
    """Activation scales live in buffers: without them a reloaded model would run on
    placeholder scales (switching the lifting off fails this test)."""
    torch.manual_seed(0)
    model, data = bert_cls().eval(), token_data()
    config = wl.quantize.StaticInt8(batches=2)
    int8 = wl.quantize(model, config, data)
    path = wl.quantize.save_quantized(int8, tmp_path / "bert-int8.pt", config)
    torch.manual_seed(1)
    back = wl.quantize.load_quantized(path, bert_cls().eval(), data.example_input)
    inputs = split(next(iter(data.eval)))[0]
    with torch.no_grad():
        assert torch.equal(logits(back(**inputs)), logits(int8(**inputs)))
    # The artifact measure weighs holds int8 weights, not the fp32 ones beside them
    # (embeddings and LayerNorms stay fp32, hence not 1/4).
    sizes = [
        save_torch_artifact(m, tmp_path / n).stat().st_size for n, m in [("a", model), ("b", int8)]
    ]
    assert sizes[1] < 0.6 * sizes[0], sizes


class DataDependent(nn.Module):
    """Branches on a tensor's value: neither torch.fx nor torch.export can capture it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return -self.fc(x)


def test_a_model_neither_path_captures_is_refused_in_one_line():
    x = torch.randn(32, 8)
    data = wl.data.from_tensors(x, torch.zeros(32).long(), x, torch.zeros(32).long())
    with pytest.raises(UserError) as err:
        wl.quantize(DataDependent(), wl.quantize.StaticInt8(batches=2), data)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    assert "neither torch.fx nor torch.export can capture DataDependent" in message
    assert "quantize='static_int8'" in message  # what to use instead: ONNX Runtime int8
