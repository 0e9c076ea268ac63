"""Attention transfer (Zagoruyko & Komodakis 2017): the student matches where the teacher's
feature maps are active, channel-free, so no adapter is needed between different widths."""

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
from weightlight.distill.feature import PAIRS
from weightlight.distill.logit import TEMPERATURE
from weightlight.distill.losses import attention_loss, kd_loss
from weightlight.distill.taps import Taps
from weightlight.layer_names import check_layer_names


class Attention(DistillConfig):
    """Attention transfer: loss = CE + beta/2 * sum_pairs AT(F_s, F_t) (+ alpha * logit KD).

    Example (YAML): `distill: {method: attention, pairs: {conv2: conv2}, beta: 1000}`
    """

    method: Literal["attention"] = "attention"
    pairs: dict[str, str] = PAIRS
    beta: float = Field(1000.0, gt=0, description="Weight of the attention term (paper: 1000).")
    p: float = Field(2.0, gt=0, description="Exponent of |activation| in the attention map.")
    alpha: float = Field(0.0, ge=0, lt=1, description="Weight of an added logit-KD term.")
    temperature: float = TEMPERATURE


class AttentionLoss(DistillLoss):
    def __init__(self, student: nn.Module, teacher: nn.Module, config: Attention) -> None:
        super().__init__([teacher])
        self.config, self.pairs = config, dict(config.pairs)
        check_layer_names(student, list(self.pairs), owner="student")
        check_layer_names(teacher, list(self.pairs.values()), owner="teacher")
        self.student_taps = Taps(student, list(self.pairs), role="student")
        self.teacher_taps = Taps(teacher, list(self.pairs.values()), role="teacher")

    def compute(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
        c = self.config
        logits = logits_of(call(model, inputs))
        (teacher_logits,) = self.teacher_logits(inputs)
        at = sum(
            attention_loss(self.student_taps[s], self.teacher_taps[t], c.p)
            for s, t in self.pairs.items()
        )
        task = kd_loss(logits, teacher_logits, targets, temperature=c.temperature, alpha=c.alpha)
        return task + c.beta / 2 * at

    def remove(self) -> None:
        self.student_taps.remove()
        self.teacher_taps.remove()


@handles(Attention)
def distill_attention(
    student: nn.Module, config: Attention, data: Data, teacher: Teacher, progress: bool
) -> nn.Module:
    teacher = single_teacher(teacher, config.method)
    loss = AttentionLoss(student, teacher, config)
    try:
        check_classes(student, [teacher], data)
        return fit(student, loss, data, config, progress)
    finally:
        loss.remove()
