"""SmoothQuant as an int8 option: folds found on any family, outputs unchanged, int8 error down.

The mechanism test builds an outlier channel the way trained transformers grow them: one
channel of a LayerNorm's output scaled 50x, the next Linear's column divided by 50 (the model
computes exactly the same function). Per-tensor int8 activations then lose every other
channel; smoothing folds the scale back into the LayerNorm.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import weightlight as wl
from weightlight.errors import UserError
from weightlight.quantize.smoothing import Fold, smooth


class PreNormMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(16, 32)
        self.norm = nn.LayerNorm(32)
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.nn.functional.gelu(self.fc1(self.norm(self.embed(x)))))


def with_outlier(scale: float = 50.0) -> PreNormMLP:
    torch.manual_seed(0)
    model = PreNormMLP().eval()
    with torch.no_grad():
        model.norm.weight[3] *= scale
        model.norm.bias[3] *= scale
        model.fc1.weight[:, 3] /= scale
    return model


def data() -> wl.data.Data:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(256, 16, generator=g), torch.randn(256, 8, generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    return wl.data.from_loaders(loader, loader, task="regression")


def int8_error(config) -> float:
    model, bundle = with_outlier(), data()
    quantized = wl.quantize(model, config, bundle)
    x = torch.randn(512, 16, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref, out = model(x), quantized(x)
    return float((out - ref).norm() / ref.norm())


def test_smoothing_lowers_int8_error_on_an_outlier_channel():
    plain = int8_error(wl.quantize.Dynamic(per_channel=True))
    smoothed = int8_error(wl.quantize.Dynamic(per_channel=True, smooth=0.5))
    # Measured 0.565 -> 0.029 relative error. With the fold switched off (`_scale_fold` made a
    # no-op after the check) both errors were 0.565 and this failed.
    assert smoothed < 0.3 * plain, (plain, smoothed)


def test_smoothing_keeps_outputs_and_graph():
    model, bundle = with_outlier(), data()
    inputs = [x for x, _ in bundle.calib]
    smoothed = smooth(model, inputs, alpha=0.5)
    assert smoothed.smoothing_folds == [Fold("norm", ("fc1",))]  # fc1 -> fc2 passes GELU: no
    x = torch.randn(64, 16)
    torch.testing.assert_close(smoothed(x), model(x), rtol=1e-4, atol=1e-4)
    assert [type(m) for m in smoothed.modules()] == [type(m) for m in model.modules()]
    # the outlier channel is flattened: the norm's output range is no longer 50x the others
    with torch.inference_mode():
        h = smoothed.norm(smoothed.embed(x)).abs().amax(0)
    assert float(h.max() / h.median()) < 10
    assert model.norm.weight[3] > 10  # the model given is untouched


def test_folds_on_llama_and_post_ln_bert():
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
        num_key_value_heads=4, vocab_size=100, max_position_embeddings=64,
    )  # fmt: skip
    torch.manual_seed(0)
    llama = transformers.LlamaForCausalLM(config).eval()
    batch = {"input_ids": torch.randint(1, 100, (2, 12)), "attention_mask": torch.ones(2, 12)}
    folds = {(f.producer, f.consumers) for f in smooth(llama, [batch]).smoothing_folds}
    p = "model.layers.0."
    assert folds == {
        (p + "input_layernorm", (p + "self_attn.q_proj", p + "self_attn.k_proj",
                                 p + "self_attn.v_proj")),
        (p + "post_attention_layernorm", (p + "mlp.gate_proj", p + "mlp.up_proj")),
        (p + "self_attn.v_proj", (p + "self_attn.o_proj",)),
        (p + "mlp.up_proj", (p + "mlp.down_proj",)),
    }  # fmt: skip
    bert = transformers.BertModel(
        transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                intermediate_size=64, vocab_size=100)
    ).eval()  # fmt: skip
    folds = [f.producer for f in smooth(bert, [batch]).smoothing_folds]
    # post-LN: every LayerNorm output is also the residual, so only value -> output folds
    assert folds == ["encoder.layer.0.attention.self.value"]


def test_smooth_option_errors():
    with pytest.raises(UserError, match="smooth"):
        wl.quantize.Dynamic(smooth=1.5)
    with pytest.raises(UserError, match="set quantize"):
        wl.export.Export(keep_fp32=2)
    with pytest.raises(UserError, match="calibration data"):
        wl.quantize(with_outlier(), wl.quantize.Dynamic(smooth=0.5))
