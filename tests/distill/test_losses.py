"""The distillation losses against reference formulas and their invariances."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from weightlight.distill import losses


@pytest.fixture
def logits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(16, 10, generator=g),
        3 * torch.randn(16, 10, generator=g),
        torch.arange(16) % 10,
    )


@pytest.mark.parametrize("temperature", [1.0, 4.0, 10.0])
def test_kd_soft_term_matches_torch_kl_div_times_t_squared(logits, temperature):
    s, t, _ = logits
    expected = (
        F.kl_div(
            F.log_softmax(s / temperature, 1), F.log_softmax(t / temperature, 1),
            log_target=True, reduction="batchmean",
        )
        * temperature**2
    )  # fmt: skip
    got = losses.kd_loss(s, t, None, temperature=temperature)
    assert torch.allclose(got, expected, atol=1e-5)


def test_kd_mixes_soft_and_hard_terms_by_alpha(logits):
    s, t, y = logits
    soft = losses.kd_loss(s, t, None, temperature=4.0)
    mixed = losses.kd_loss(s, t, y, temperature=4.0, alpha=0.3)
    assert torch.allclose(mixed, 0.3 * soft + 0.7 * F.cross_entropy(s, y), atol=1e-6)
    assert torch.allclose(losses.kd_loss(s, t, y, alpha=0.0), F.cross_entropy(s, y), atol=1e-6)


def test_kd_is_zero_against_itself_and_positive_otherwise(logits):
    s, t, _ = logits
    assert float(losses.kd_loss(s, s, None)) < 1e-6
    assert float(losses.kd_loss(s, t, None)) > 0.1


def test_soft_kl_is_finite_for_one_hot_targets(logits):
    s, _, y = logits
    value = losses.soft_kl(s, F.one_hot(y, 10).float(), 1.0)
    # With a one-hot target the KL equals the cross-entropy.
    assert torch.allclose(value, F.cross_entropy(s, y), atol=1e-5)


def test_hint_loss_is_the_mean_squared_error():
    a, b = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 2.0)
    assert float(losses.hint_loss(a, b)) == pytest.approx(4.0)


def test_attention_ignores_channel_count_and_scale_but_not_where():
    f = torch.rand(4, 8, 6, 6)
    assert float(losses.attention_loss(f, 5 * torch.cat([f, f], 1))) < 1e-9
    moved = torch.roll(f, shifts=3, dims=3)
    assert float(losses.attention_loss(f, moved)) > 1e-4
    # Different spatial sizes are compared at the teacher's resolution.
    assert losses.attention_loss(torch.rand(4, 8, 12, 12), f).shape == torch.Size([])


def test_attention_map_is_unit_norm_per_sample():
    q = losses.attention_map(torch.randn(3, 5, 7, 7))
    assert q.shape == (3, 49)
    assert torch.allclose(q.norm(dim=1), torch.ones(3), atol=1e-6)


def test_rkd_losses_ignore_scale_and_width_of_the_embedding():
    e = torch.randn(12, 6)
    q, _ = torch.linalg.qr(torch.randn(16, 16))
    rotated_wider = F.pad(e, (0, 10)) @ q * 7  # same geometry in a wider, rotated space
    assert float(losses.rkd_distance_loss(e, rotated_wider)) < 1e-6
    assert float(losses.rkd_angle_loss(e, rotated_wider)) < 1e-6
    other = torch.randn(12, 6)
    assert float(losses.rkd_distance_loss(e, other)) > 1e-3
    assert float(losses.rkd_angle_loss(e, other)) > 1e-3


def test_rkd_gradients_stay_finite_with_duplicate_samples():
    e = torch.randn(6, 4)
    e = torch.cat([e, e[:2]]).requires_grad_(True)  # identical rows: zero distances
    total = losses.rkd_distance_loss(e, torch.randn(8, 3)) + losses.rkd_angle_loss(
        e, torch.randn(8, 3)
    )
    total.backward()
    assert torch.isfinite(e.grad).all()
