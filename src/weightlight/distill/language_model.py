"""Language-model distillation (`LanguageModel`): token-level KL from the teacher's logits.

At every real token the student's next-token distribution is pulled towards the teacher's at
temperature T (Kim & Rush 2016's word-level KD, the loss of DistilGPT-2 and MiniLLM's
baseline), mixed with the plain next-token cross-entropy on the text itself. Padding is masked
out of both terms by the batch's attention_mask.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from weightlight.batch import split
from weightlight.data import Data
from weightlight.distill.core import (
    DistillConfig,
    DistillLoss,
    Teacher,
    fit,
    handles,
    single_teacher,
)
from weightlight.distill.losses import token_kl_loss
from weightlight.distill.states import logits
from weightlight.errors import UserError
from weightlight.tasks import get_task, lm_targets, task_loss


class LanguageModel(DistillConfig):
    """Token-level KD of a causal LM: alpha * T^2 * KL(teacher_T || student_T) per real token
    + (1 - alpha) * next-token cross-entropy.

    Example (YAML): `distill: {method: lm, temperature: 2.0, alpha: 0.9, max_seconds: 600}`
    """

    TASKS: ClassVar[tuple[str, ...]] = ("causal_lm",)

    method: Literal["lm"] = "lm"
    lr: float = Field(1e-4, gt=0, description="Peak learning rate (one-cycle schedule).")
    epochs: float = Field(1, gt=0, description="Passes over the training text.")
    weight_decay: float = Field(0.0, ge=0, description="Decoupled weight decay.")
    temperature: float = Field(2.0, gt=0, description="Softmax temperature T of the teacher.")
    alpha: float = Field(
        0.9, ge=0, le=1, description="Weight of the KL term; 1 - alpha weighs next-token CE."
    )


class LanguageModelLoss(DistillLoss):
    def __init__(self, teacher: nn.Module, config: LanguageModel) -> None:
        super().__init__([teacher])
        self.config = config

    def compute(self, model: nn.Module, inputs, targets=None) -> torch.Tensor:
        (teacher,) = self.teachers
        mask = inputs.get("attention_mask")
        with torch.no_grad():
            t_logits = logits(teacher(**inputs))
        s_logits = logits(model(**inputs))
        kl = token_kl_loss(s_logits, t_logits, mask, self.config.temperature)
        if self.config.alpha >= 1.0:
            return kl
        labels = targets if targets is not None else lm_targets(inputs["input_ids"], mask)
        ce = task_loss(get_task("causal_lm"), s_logits, labels)
        return self.config.alpha * kl + (1 - self.config.alpha) * ce


@handles(LanguageModel)
def distill_language_model(
    student: nn.Module, config: LanguageModel, data: Data, teacher: Teacher, progress: bool
) -> nn.Module:
    teacher = single_teacher(teacher, config.method)
    inputs = split(data.example_batch(2))[0]
    with torch.no_grad():  # a vocabulary mismatch fails here, before any training
        widths = [logits(m.eval()(**inputs)).shape[-1] for m in (student, teacher)]
    if widths[0] != widths[1]:
        raise UserError(
            f"the student predicts {widths[0]} tokens, the teacher {widths[1]}",
            "distil between models that share a tokenizer (same vocabulary)",
        )
    return fit(student, LanguageModelLoss(teacher, config), data, config, progress)
