"""Helpers shared by the pruning tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import torch
from torch import nn

from weightlight.measure.metric import evaluate
from weightlight.measure.runnable import TorchRunnable


def accuracy(model: nn.Module, data) -> float:
    return evaluate(TorchRunnable(model).run, data.eval)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
