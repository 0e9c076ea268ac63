"""Response-based distillation (Hinton et al. 2015): the student matches the teacher's
temperature-softened class probabilities, mixed with the hard labels."""

from __future__ import annotations

from typing import Literal

import torch
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
    single_teacher,
)
from weightlight.distill.losses import kd_loss

TEMPERATURE = Field(4.0, gt=0, description="Softmax temperature T of the soft targets (> 0).")
ALPHA = Field(
    0.7, ge=0, le=1, description="Weight of the soft (teacher) term; 1 - alpha weighs hard CE."
)


class Logit(DistillConfig):
    """Logit KD: loss = alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE.

    Example (YAML): `distill: {method: logit, temperature: 4.0, alpha: 0.7, epochs: 3}`
    """

    method: Literal["logit"] = "logit"
    temperature: float = TEMPERATURE
    alpha: float = ALPHA


class LogitLoss(DistillLoss):
    def __init__(self, teacher: nn.Module, temperature: float, alpha: float) -> None:
        super().__init__([teacher])
        self.temperature, self.alpha = temperature, alpha

    def compute(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
        (teacher_logits,) = self.teacher_logits(inputs)
        return kd_loss(
            logits_of(call(model, inputs)), teacher_logits, targets,
            temperature=self.temperature, alpha=self.alpha,
        )  # fmt: skip


@handles(Logit)
def distill_logit(
    student: nn.Module, config: Logit, data: Data, teacher: Teacher, progress: bool
) -> nn.Module:
    teacher = single_teacher(teacher, config.method)
    check_classes(student, [teacher], data)
    return fit(
        student, LogitLoss(teacher, config.temperature, config.alpha), data, config, progress
    )
