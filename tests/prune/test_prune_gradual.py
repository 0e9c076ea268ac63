"""Gradual pruning: the schedule drives the masks inside the training loop; end to end."""

from __future__ import annotations

import pytest
from prune_helpers import accuracy, assert_unchanged, n_params, snapshot

import weightlight as wl
from weightlight.measure.params import count_params
from weightlight.prune.gradual import unstructured_callback
from weightlight.prune.schedule import agp

CNN_WEIGHTS = 288 + 18_432 + 1_179_648 + 1_280


def test_callback_follows_the_agp_schedule_step_by_step():
    model = wl.models.mnist_cnn()
    config = wl.prune.Gradual(target=wl.prune.Unstructured(ratio=0.8), prunings=10, end=0.7)
    callback = unstructured_callback(config)
    total = 100  # -> a pruning event every 7 steps, from step 0 to 70
    seen = {}
    for step in range(1, total + 1):
        callback(step, total, model)
        seen[step] = CNN_WEIGHTS - (count_params(model)[1] - (1_199_882 - CNN_WEIGHTS))
    for step in (7, 35, 70, 100):
        event = step if step <= 70 else 70
        s = agp(event, initial=0.0, final=0.8, start=0, steps=10, interval=7)
        assert seen[step] == round(s * CNN_WEIGHTS)
    assert seen[6] == 0  # nothing before the first event
    assert seen[35] == round(0.7 * CNN_WEIGHTS)  # half-way through AGP is 7/8 of the target


def test_gradual_unstructured_end_to_end(trained_cnn, digits):
    before = snapshot(trained_cnn)
    config = wl.prune.Gradual(
        target=wl.prune.Unstructured(ratio=0.9), schedule="agp", training={"epochs": 1}
    )
    pruned = wl.prune(trained_cnn, config, digits)
    assert_unchanged(trained_cnn, before)
    assert count_params(pruned)[1] == 1_199_882 - round(0.9 * CNN_WEIGHTS)
    assert accuracy(pruned, digits) >= 96.0


def test_gradual_structured_end_to_end(trained_cnn, digits):
    config = wl.prune.Gradual(
        target=wl.prune.Structured(ratio=0.5), schedule="linear", prunings=2,
        training={"epochs": 1},
    )  # fmt: skip
    pruned = wl.prune(trained_cnn, config, digits)
    assert n_params(pruned) == 300_426  # same architecture as one-shot 50 %
    assert accuracy(pruned, digits) >= 96.0


def test_gradual_bad_input():
    with pytest.raises(wl.UserError, match="end"):
        wl.prune.Gradual(target=wl.prune.Structured(), begin=0.5, end=0.4)
    with pytest.raises(wl.UserError, match="target.finetune"):
        wl.prune.Gradual(target=wl.prune.Unstructured(finetune={"epochs": 1}))
    with pytest.raises(wl.UserError, match="target"):
        wl.prune.Gradual(target={"method": "magic"})


def test_gradual_training_run_keeps_its_former_name():
    target = wl.prune.Unstructured(ratio=0.5)
    old = wl.prune.Gradual(target=target, finetune={"epochs": 2, "lr": 0.01})
    assert old == wl.prune.Gradual(target=target, training={"epochs": 2, "lr": 0.01})
    assert old.training.epochs == 2 and "finetune" not in type(old).model_fields
