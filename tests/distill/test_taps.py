"""Feature taps: capture by module name, names checked up front, hooks removed."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl
from weightlight.distill.taps import Taps


def test_taps_capture_named_outputs_and_remove_their_hooks():
    model = wl.models.mnist_cnn().eval()
    with Taps(model, ["conv2", "fc1"], role="student") as taps:
        model(torch.zeros(3, 1, 28, 28))
        assert tuple(taps["conv2"].shape) == (3, 64, 24, 24)
        assert tuple(taps["fc1"].shape) == (3, 128)
    assert all(not m._forward_hooks for m in model.modules())


def test_unknown_layer_names_fail_before_any_hook_is_added():
    model = wl.models.mnist_cnn()
    with pytest.raises(
        wl.UserError, match=r"no layer named 'conv3' \(did you mean conv2, conv1\?\)"
    ):
        Taps(model, ["conv1", "conv3"], role="student")
    assert all(not m._forward_hooks for m in model.modules())


def test_reading_a_layer_that_did_not_run_is_a_user_error():
    model = wl.models.mnist_cnn()
    with Taps(model, ["fc2"]) as taps, pytest.raises(wl.UserError, match="not called"):
        taps["fc2"]
