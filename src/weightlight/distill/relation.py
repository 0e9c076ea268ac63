"""Relational KD (Park et al. 2019): the student reproduces the geometry of the teacher's
embeddings across a batch (pairwise distances and triplet angles), not the values, so the
two embeddings may differ in width and scale."""

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
from weightlight.distill.logit import TEMPERATURE
from weightlight.distill.losses import kd_loss, rkd_angle_loss, rkd_distance_loss
from weightlight.distill.taps import Taps


class Relation(DistillConfig):
    """RKD: loss = CE + distance_weight * RKD-D + angle_weight * RKD-A (+ alpha * logit KD).

    Embeddings are the outputs of `student_layer` / `teacher_layer` (flattened), or the logits
    when a layer is not given.

    Example (YAML): `distill: {method: relation, student_layer: fc1, teacher_layer: fc1}`
    """

    method: Literal["relation"] = "relation"
    student_layer: str | None = Field(None, description="Student embedding layer (None: logits).")
    teacher_layer: str | None = Field(None, description="Teacher embedding layer (None: logits).")
    distance_weight: float = Field(25.0, ge=0, description="Weight of RKD-D (paper: 25).")
    angle_weight: float = Field(50.0, ge=0, description="Weight of RKD-A (paper: 50).")
    alpha: float = Field(0.0, ge=0, lt=1, description="Weight of an added logit-KD term.")
    temperature: float = TEMPERATURE


class RelationLoss(DistillLoss):
    def __init__(self, student: nn.Module, teacher: nn.Module, config: Relation) -> None:
        super().__init__([teacher])
        self.config = config
        self.s_name, self.t_name = config.student_layer, config.teacher_layer
        self.student_taps = Taps(student, [self.s_name] if self.s_name else [], role="student")
        self.teacher_taps = Taps(teacher, [self.t_name] if self.t_name else [], role="teacher")

    def compute(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
        c = self.config
        logits = logits_of(call(model, inputs))
        (teacher_logits,) = self.teacher_logits(inputs)
        e_s = self.student_taps[self.s_name] if self.s_name else logits
        e_t = self.teacher_taps[self.t_name] if self.t_name else teacher_logits
        relation = c.distance_weight * rkd_distance_loss(e_s, e_t)
        relation = relation + c.angle_weight * rkd_angle_loss(e_s, e_t)
        task = kd_loss(logits, teacher_logits, targets, temperature=c.temperature, alpha=c.alpha)
        return task + relation

    def remove(self) -> None:
        self.student_taps.remove()
        self.teacher_taps.remove()


@handles(Relation)
def distill_relation(
    student: nn.Module, config: Relation, data: Data, teacher: Teacher, progress: bool
) -> nn.Module:
    teacher = single_teacher(teacher, config.method)
    loss = RelationLoss(student, teacher, config)
    try:
        check_classes(student, [teacher], data)
        return fit(student, loss, data, config, progress)
    finally:
        loss.remove()
