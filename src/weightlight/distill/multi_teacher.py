"""Multi-teacher distillation: the soft target is a weighted ensemble of several teachers'
temperature-softened probabilities (Hinton et al. 2015, section 2; You et al. 2017)."""

from __future__ import annotations

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
    frozen,
    handles,
    logits_of,
)
from weightlight.distill.logit import ALPHA, TEMPERATURE
from weightlight.distill.losses import soft_kl
from weightlight.errors import UserError


class MultiTeacher(DistillConfig):
    """Weighted ensemble of teachers: target = sum_k w_k softmax(z_k / T), weights normalized.

    Example: `wl.distill(student, wl.distill.MultiTeacher(weights=(0.5, 0.5)), data,
    teacher=[t1, t2])`
    """

    method: Literal["multi_teacher"] = "multi_teacher"
    weights: tuple[float, ...] | None = Field(
        None, min_length=2, description="One weight >= 0 per teacher (None: equal weights)."
    )
    temperature: float = TEMPERATURE
    alpha: float = ALPHA


class MultiTeacherLoss(DistillLoss):
    def __init__(self, teachers: list[nn.Module], weights: list[float], config: MultiTeacher):
        super().__init__(teachers)
        total = sum(weights)
        self.weights = [w / total for w in weights]
        self.temperature, self.alpha = config.temperature, config.alpha

    def compute(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
        logits = logits_of(call(model, inputs))
        t = self.temperature
        target = sum(
            w * F.softmax(z / t, dim=1)
            for w, z in zip(self.weights, self.teacher_logits(inputs), strict=True)
        )
        soft = soft_kl(logits, target, t)
        return self.alpha * soft + (1 - self.alpha) * F.cross_entropy(logits, targets)


@handles(MultiTeacher)
def distill_multi_teacher(
    student: nn.Module, config: MultiTeacher, data: Data, teacher: Teacher, progress: bool
) -> nn.Module:
    if not isinstance(teacher, (list, tuple)) or len(teacher) < 2:
        raise UserError(
            "distill method 'multi_teacher' needs a list of at least two teachers",
            "pass teacher=[teacher_a, teacher_b] (or use wl.distill.Logit for one)",
        )
    weights = list(config.weights) if config.weights else [1.0] * len(teacher)
    if len(weights) != len(teacher):
        raise UserError(
            f"MultiTeacher has {len(weights)} weights for {len(teacher)} teachers",
            "give one weight per teacher",
        )
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise UserError(f"MultiTeacher weights {weights} must be >= 0 and not all 0",
                        "use e.g. weights: [0.5, 0.5]")  # fmt: skip
    teachers = [frozen(t) for t in teacher]
    check_classes(student, teachers, data)
    return fit(student, MultiTeacherLoss(teachers, weights, config), data, config, progress)
