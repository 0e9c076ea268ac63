"""output_tensor finds the prediction in every shape of model output the toolkit meets."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from weightlight.outputs import output_tensor

T = torch.arange(6.0).reshape(2, 3)


@pytest.mark.parametrize(
    "out",
    [
        T,
        (T, torch.zeros(1)),
        [T],
        {"logits": T, "hidden": torch.zeros(1)},
        {"last_hidden_state": T},
        SimpleNamespace(logits=T),
        SimpleNamespace(logits=None, last_hidden_state=T),
    ],
    ids=["tensor", "tuple", "list", "dict-logits", "dict-first", "attr-logits", "attr-hidden"],
)
def test_output_tensor_returns_the_prediction(out):
    assert output_tensor(out) is T


def test_hugging_face_model_output():
    outputs = pytest.importorskip("transformers.modeling_outputs")
    hidden = torch.ones(2, 4, 8)
    assert output_tensor(outputs.SequenceClassifierOutput(logits=T)) is T
    assert output_tensor(outputs.BaseModelOutput(last_hidden_state=hidden)) is hidden
