"""Every distillation method trains a student from the trained seed CNN to a sensible accuracy,
without touching the models it was given."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl
from weightlight.distill.core import frozen
from weightlight.distill.feature import FeatureLoss
from weightlight.measure.metric import evaluate


def accuracy(model: torch.nn.Module, data: wl.data.Data) -> float:
    model.eval()
    with torch.no_grad():
        return evaluate(model, data.eval)


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _no_hooks(model: torch.nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


# (config, floor on digits top-1 %) for a half-width student (300,426 params) after 2 epochs.
FLOORS = {
    "logit": (wl.distill.Logit(temperature=4.0, alpha=0.7, epochs=2), 80.0),
    "feature": (wl.distill.Feature(pairs={"conv2": "conv2", "fc1": "fc1"}, epochs=2), 80.0),
    "attention": (wl.distill.Attention(pairs={"conv1": "conv1", "conv2": "conv2"}, epochs=2), 80.0),
    "relation": (wl.distill.Relation(student_layer="fc1", teacher_layer="fc1", epochs=2), 80.0),
    "online": (wl.distill.Online(num_peers=2, epochs=2), 80.0),
}


@pytest.mark.parametrize("method", list(FLOORS))
def test_method_trains_a_half_width_student_above_a_floor(method, digits, trained_cnn):
    config, floor = FLOORS[method]
    teacher = None if method == "online" else trained_cnn
    teacher_before = _state(trained_cnn)
    torch.manual_seed(0)
    student = wl.models.shrink(trained_cnn, width=0.5)
    student_before = _state(student)
    trained = wl.distill(student, config, digits, teacher=teacher)
    assert accuracy(trained, digits) >= floor
    assert sum(p.numel() for p in trained.parameters()) == 300_426
    assert trained is not student and not trained.training
    assert _no_hooks(trained) and _no_hooks(trained_cnn)
    assert all(torch.equal(v, student_before[k]) for k, v in student.state_dict().items())
    assert all(torch.equal(v, teacher_before[k]) for k, v in trained_cnn.state_dict().items())


def test_self_distillation_keeps_a_trained_model_accurate(digits, trained_cnn):
    # Born-again from its own frozen copy, two generations. Continuing from trained weights
    # wants a fine-tuning learning rate: at the from-scratch default (3e-3) the one-cycle
    # warm-up knocked a 1-epoch student from 84.7 % to 76.7 % while developing this test.
    before = accuracy(trained_cnn, digits)
    config = wl.distill.BornAgain(generations=2, epochs=0.3, lr=1e-3)
    reborn = wl.distill(trained_cnn, config, digits)
    assert accuracy(reborn, digits) >= before - 1.5
    assert not torch.equal(reborn.fc2.weight, trained_cnn.fc2.weight)  # it did train


def test_multi_teacher_learns_from_a_cnn_and_a_resnet(digits, trained_cnn, trained_resnet):
    config = wl.distill.MultiTeacher(weights=(0.7, 0.3), epochs=2)
    torch.manual_seed(0)
    student = wl.distill(
        wl.models.shrink(trained_cnn, width=0.5),
        config,
        digits,
        teacher=[trained_cnn, trained_resnet],
    )
    assert accuracy(student, digits) >= 85.0


def test_cross_model_cnn_teaches_an_mlp_through_feature_adapters(digits, trained_cnn):
    # The MLP's 256-wide hidden layer regresses the CNN's pooled 64-channel conv2 map (linear
    # adapter 256 -> 64), its 128-wide layer the CNN's fc1 (same width: no adapter).
    config = wl.distill.Feature(pairs={"net.2": "conv2", "net.4": "fc1"}, alpha=0.5, epochs=2)
    torch.manual_seed(0)
    mlp = wl.distill(wl.models.mlp(), config, digits, teacher=trained_cnn)
    assert accuracy(mlp, digits) >= 85.0


def test_feature_adapters_are_optimized_by_the_training_loop(digits, trained_cnn):
    student = wl.models.shrink(trained_cnn, width=0.5)
    config = wl.distill.Feature(pairs={"conv2": "conv2"}, epochs=0.2)
    loss = FeatureLoss(student, frozen(trained_cnn), config, digits)
    adapter = loss.adapters[0].proj
    assert tuple(adapter.weight.shape) == (64, 32, 1, 1)  # 1x1 conv: 32 -> 64 channels
    before = adapter.weight.detach().clone()
    wl.train(student, digits, loss=loss, epochs=0.2, progress=False, in_place=True)
    loss.remove()
    assert (adapter.weight - before).abs().max() > 1e-4
