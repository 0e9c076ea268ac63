"""Self-distillation, born-again style (Furlanello et al. 2018): a model's earlier copy is
its teacher. Each generation trains a student of the same architecture against the previous
generation's soft targets; the last generation is returned."""

from __future__ import annotations

import copy
from typing import Literal

from pydantic import Field
from torch import nn

from weightlight.data import Data
from weightlight.distill.core import (
    DistillConfig,
    Teacher,
    check_classes,
    fit,
    frozen,
    handles,
    reinitialize,
    single_teacher,
)
from weightlight.distill.logit import ALPHA, TEMPERATURE, LogitLoss


class BornAgain(DistillConfig):
    """Born-again self-distillation: the student's own earlier copy is the teacher.

    With no `teacher=`, generation 1 is taught by a frozen copy of the model passed in (so
    pass a trained model); each later generation is taught by the one before. `reinit`
    restarts each student from fresh weights (the paper's setting) instead of continuing.

    Example (YAML): `distill: {method: self, generations: 2, temperature: 4.0}`
    """

    method: Literal["self"] = "self"
    generations: int = Field(1, ge=1, le=5, description="Teacher -> student rounds.")
    reinit: bool = Field(False, description="Start every generation from fresh weights.")
    temperature: float = TEMPERATURE
    alpha: float = ALPHA


@handles(BornAgain)
def distill_self(
    student: nn.Module, config: BornAgain, data: Data, teacher: Teacher, progress: bool
) -> nn.Module:
    teacher = frozen(student) if teacher is None else single_teacher(teacher, config.method)
    check_classes(student, [teacher], data)
    for generation in range(config.generations):
        if config.reinit:
            reinitialize(student, config.seed + generation)
        loss = LogitLoss(teacher, config.temperature, config.alpha)
        student = fit(student, loss, data, config, progress)
        if generation + 1 < config.generations:
            teacher = frozen(student)
            student = copy.deepcopy(student)
    return student
