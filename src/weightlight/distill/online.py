"""Online distillation: deep mutual learning (Zhang et al. 2018, arXiv:1706.00384). Several
peers train together, each matching the others' softened predictions; there is no fixed,
pre-trained teacher."""

from __future__ import annotations

import copy
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from weightlight.batch import call
from weightlight.data import Data
from weightlight.distill.core import (
    DistillConfig,
    DistillLoss,
    Teacher,
    check_classes,
    fit,
    handles,
    logits_of,
    reinitialize,
)
from weightlight.distill.losses import soft_kl
from weightlight.errors import UserError


class Online(DistillConfig):
    """Deep mutual learning. Returns peer 0: the one that started from the model passed in.

    Peers 1..n-1 are copies of it with fresh weights (seeded). Each peer's loss is
    (1 - alpha) * CE + alpha * T^2 * KL(mean of the other peers' softened predictions || peer).

    Example (YAML): `distill: {method: online, num_peers: 2, epochs: 3}`
    """

    method: Literal["online"] = "online"
    num_peers: int = Field(2, ge=2, le=8, description="Students trained together (>= 2).")
    temperature: float = Field(1.0, gt=0, description="Softmax temperature (the paper: 1).")
    alpha: float = Field(0.5, ge=0, le=1, description="Weight of the mimicry (KL) term.")


class Peers(nn.Module):
    """The peers as one module, so the one training loop (and DDP) trains them together."""

    def __init__(self, peers: list[nn.Module]) -> None:
        super().__init__()
        self.peers = nn.ModuleList(peers)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.stack([logits_of(call(p, inputs)) for p in self.peers])  # (peers, N, classes)


class MutualLoss(DistillLoss):
    def __init__(self, temperature: float, alpha: float) -> None:
        super().__init__([])
        self.temperature, self.alpha = temperature, alpha

    def compute(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
        logits = call(model, inputs)
        t, n = self.temperature, logits.shape[0]
        probs = F.softmax(logits.detach() / t, dim=2)  # peers are each other's fixed targets
        total = logits.new_zeros(())
        for i in range(n):
            others = (probs.sum(0) - probs[i]) / (n - 1)
            mimic = soft_kl(logits[i], others, t)
            total = (
                total + self.alpha * mimic + (1 - self.alpha) * F.cross_entropy(logits[i], targets)
            )
        return total


@handles(Online)
def distill_online(
    student: nn.Module, config: Online, data: Data, teacher: Teacher, progress: bool
) -> nn.Module:
    if teacher is not None:
        raise UserError(
            "distill method 'online' trains peers without a teacher, but teacher= was given",
            "drop teacher=, or use wl.distill.Logit to learn from a fixed teacher",
        )
    check_classes(student, [], data)
    peers = [student] + [
        reinitialize(copy.deepcopy(student), config.seed + i) for i in range(1, config.num_peers)
    ]
    trained = fit(
        Peers(peers), MutualLoss(config.temperature, config.alpha), data, config, progress
    )
    student = trained.peers[0]
    student.weightlight_training = trained.weightlight_training  # its run note (`train`)
    return student.eval()
