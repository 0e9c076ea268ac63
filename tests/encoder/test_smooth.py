"""SmoothQuant on a BERT encoder: same fp32 outputs, smaller int8 error where outliers sit."""

from __future__ import annotations

import pytest
import torch

from weightlight.errors import UserError
from weightlight.models.encoder import embedding_agreement, embeddings
from weightlight.quantize.smooth import ScaledLinear, smooth_encoder


def with_outliers(encoder):
    """Make FFN neurons 5 and 40 fire ~40x harder (the heavy-tailed channels real encoders
    have), compensated in the output projection so the model computes the same function."""
    with torch.no_grad():
        for block in encoder.model.encoder.layer:
            for j in (5, 40):
                block.intermediate.dense.weight[j] *= 40
                block.intermediate.dense.bias[j] = 40 * block.intermediate.dense.bias[j] + 40
    return encoder


def int8_dynamic(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x @ W^T with x as uint8 (one scale per tensor, as ORT dynamic int8) and W as int8 per
    output channel: the arithmetic the smoothing is for, simulated in float."""
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = (hi - lo) / 255 or 1.0
    zero = round(-lo / scale)
    xq = (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale
    w_scale = weight.abs().amax(dim=1, keepdim=True).clamp_min(1e-8) / 127
    return xq @ (torch.round(weight / w_scale) * w_scale).T


def fake_int8(model):
    """Every attention-output and FFN-output Linear computes through `int8_dynamic`."""

    def forward(layer):
        def run(x):
            if isinstance(layer, ScaledLinear):
                x = x * layer.input_scale
            return int8_dynamic(x, layer.weight) + layer.bias

        return run

    for block in model.model.encoder.layer:
        for layer in (block.attention.output.dense, block.output.dense):
            layer.forward = forward(layer)
    return model


def test_fp32_outputs_are_unchanged(encoder, batches):
    smoothed = smooth_encoder(with_outliers(encoder), batches, alpha=0.5)
    assert all(isinstance(b.output.dense, ScaledLinear) for b in smoothed.model.encoder.layer)
    assert not isinstance(encoder.model.encoder.layer[0].output.dense, ScaledLinear)
    for batch in batches:
        torch.testing.assert_close(smoothed(**batch), encoder(**batch), rtol=1e-4, atol=1e-4)


def test_smoothing_cuts_the_int8_error(encoder, batches):
    """With outlier channels, per-tensor int8 drifts; smoothed first, it stays close. Measured
    here: 1 - cosine drops by more than 4x (the bound leaves room for other CPUs' kernels)."""
    model = with_outliers(encoder)
    reference = embeddings(model, batches)
    plain = embedding_agreement(reference, embeddings(fake_int8(smooth_encoder(model, batches,
                                alpha=0.0, attention=False, ffn=False)), batches))  # fmt: skip
    smooth = embedding_agreement(reference, embeddings(fake_int8(smooth_encoder(model, batches,
                                 alpha=0.5)), batches))  # fmt: skip
    assert (1 - smooth[0]) * 4 < 1 - plain[0]
    assert smooth[1] > plain[1]


def test_smoothing_twice_is_still_exact(encoder, batches):
    twice = smooth_encoder(smooth_encoder(with_outliers(encoder), batches), batches)
    torch.testing.assert_close(twice(**batches[0]), encoder(**batches[0]), rtol=1e-4, atol=1e-4)


def test_bad_alpha_and_missing_mask_are_user_errors(encoder, batches):
    with pytest.raises(UserError, match="alpha"):
        smooth_encoder(encoder, batches, alpha=1.5)
    with pytest.raises(UserError, match="attention_mask"):
        smooth_encoder(encoder, [{"input_ids": batches[0]["input_ids"]}])
