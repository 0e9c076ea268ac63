"""`wl.models.shrink`: exact parameter counts of the narrower built-in students."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "width", "expected"),
    [
        ("mnist_cnn", 0.5, 300_426),  # conv 16, 32; fc1 4608->64: a quarter of 1,199,882
        ("mnist_cnn", 0.25, 75_338),  # 80 + 1,168 + 73,760 + 330
        ("resnet_small", 0.5, 19_810),  # stages 8, 16, 32 channels
        ("mlp", 0.5, 109_386),  # 784->128->64->10
    ],
)
def test_shrink_scales_widths(name, width, expected):
    teacher = wl.models.create(name)
    student = wl.models.shrink(teacher, width=width)
    assert _params(student) == expected
    assert student.weightlight_arch["name"] == name  # still saves/reloads as a built-in
    x = torch.zeros(2, 1, 28, 28)
    assert student.eval()(x).shape == teacher.eval()(x).shape


def test_shrink_composes_and_keeps_the_class_count():
    half = wl.models.shrink(wl.models.mnist_cnn(num_classes=7), width=0.5)
    quarter = wl.models.shrink(half, width=0.5)
    assert _params(quarter) == _params(wl.models.mnist_cnn(num_classes=7, width=0.25))
    assert quarter.fc2.out_features == 7


def test_shrunk_student_round_trips_through_safetensors(tmp_path):
    student = wl.models.shrink(wl.models.mnist_cnn(), width=0.5)
    loaded = wl.models.load_model(wl.models.save_model(student, tmp_path / "s.safetensors"))
    assert _params(loaded) == 300_426


@pytest.mark.parametrize("width", [0.0, -1.0, 1.5])
def test_shrink_rejects_bad_widths(width):
    with pytest.raises(wl.UserError, match="width"):
        wl.models.shrink(wl.models.mnist_cnn(), width=width)


def test_shrink_rejects_models_it_cannot_rebuild():
    with pytest.raises(wl.UserError, match="built-in models"):
        wl.models.shrink(torch.nn.Linear(4, 2))
