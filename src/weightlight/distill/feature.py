"""Feature-based distillation (FitNets hints): chosen student layers regress chosen teacher
layers through small learned adapters, which is also what makes cross-model distillation
(CNN teacher -> MLP student) possible."""

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
    handles,
    logits_of,
    single_teacher,
)
from weightlight.distill.logit import TEMPERATURE
from weightlight.distill.losses import hint_loss, kd_loss
from weightlight.distill.taps import Taps
from weightlight.layer_names import check_layer_names

PAIRS = Field(
    min_length=1,
    description="Student layer name -> teacher layer name (module names, checked up front).",
)


class Feature(DistillConfig):
    """FitNets hints: loss = CE + weight * sum MSE(adapter(F_s), F_t) (+ alpha * logit KD).

    Feature maps of different widths are bridged by a learned 1x1 conv (4-D maps) or linear
    layer (vectors); a 4-D map paired with a vector is global-average-pooled first, so a CNN
    can teach an MLP.

    Example (YAML): `distill: {method: feature, pairs: {conv2: conv2}, weight: 1.0}`
    """

    method: Literal["feature"] = "feature"
    pairs: dict[str, str] = PAIRS
    # The MSE is on raw activations, so its size follows the teacher's activation scale: on the
    # seed CNN (conv2 + fc1 hints) weight 1 swamped the CE term (74 % after 2 epochs), 0.1 did not.
    weight: float = Field(
        0.1, gt=0, description="Weight of the summed hint (MSE) losses (scale-dependent)."
    )
    alpha: float = Field(
        0.0, ge=0, lt=1, description="Weight of an added logit-KD term (0: hints + CE only)."
    )
    temperature: float = TEMPERATURE


def _pool(feature: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C) by global average; (N, L, D) tokens -> (N, D) by mean."""
    if feature.dim() == 4:
        return feature.mean(dim=(2, 3))
    if feature.dim() == 3:
        return feature.mean(dim=1)
    return feature.flatten(1)


def _pooled_width(shape: torch.Size) -> int:
    if len(shape) == 4:
        return shape[1]
    if len(shape) == 3:
        return shape[2]
    return int(torch.Size(shape[1:]).numel())


class Adapter(nn.Module):
    """Maps a student feature onto the teacher feature's shape (the FitNets regressor).

    Two 4-D maps: 1x1 conv over channels, then resize to the teacher's spatial size (average
    pooling when shrinking, bilinear when growing). Anything else: pool to vectors, then a
    linear layer. Equal shapes need no parameters (identity).
    """

    def __init__(self, student_shape: torch.Size, teacher_shape: torch.Size) -> None:
        super().__init__()
        self.spatial = len(student_shape) == 4 and len(teacher_shape) == 4
        self.size = tuple(teacher_shape[2:]) if self.spatial else None
        if self.spatial:
            c_s, c_t = student_shape[1], teacher_shape[1]
            self.proj = nn.Identity() if c_s == c_t else nn.Conv2d(c_s, c_t, 1, bias=False)
        else:
            d_s, d_t = _pooled_width(student_shape), _pooled_width(teacher_shape)
            self.proj = nn.Identity() if d_s == d_t else nn.Linear(d_s, d_t)

    def forward(self, student: torch.Tensor) -> torch.Tensor:
        if not self.spatial:
            return self.proj(_pool(student))
        out = self.proj(student)
        if tuple(out.shape[2:]) == self.size:
            return out
        if out.shape[2] >= self.size[0] and out.shape[3] >= self.size[1]:
            return F.adaptive_avg_pool2d(out, self.size)
        return F.interpolate(out, size=self.size, mode="bilinear", align_corners=False)

    def target(self, teacher: torch.Tensor) -> torch.Tensor:
        """The teacher feature in the space the adapter's output is compared in."""
        return teacher if self.spatial else _pool(teacher)


def probe_shapes(
    student: nn.Module, teacher: nn.Module, pairs: dict[str, str], data: Data
) -> dict[str, tuple[torch.Size, torch.Size]]:
    """Run the example input once through both models and record each pair's feature shapes."""
    check_layer_names(student, list(pairs), owner="student")
    check_layer_names(teacher, list(pairs.values()), owner="teacher")
    batch = data.example_batch(2)
    shapes = {}
    was_training = student.training
    with (
        Taps(student, list(pairs), role="student") as s_taps,
        Taps(teacher, list(pairs.values()), role="teacher") as t_taps,
        torch.no_grad(),
    ):
        student.eval()(batch)
        teacher(batch)
        for s_name, t_name in pairs.items():
            shapes[s_name] = (s_taps[s_name].shape, t_taps[t_name].shape)
    student.train(was_training)
    return shapes


class FeatureLoss(DistillLoss):
    def __init__(self, student: nn.Module, teacher: nn.Module, config: Feature, data: Data):
        super().__init__([teacher])
        self.config = config
        self.pairs = dict(config.pairs)
        shapes = probe_shapes(student, teacher, self.pairs, data)
        # Seeded, so every DDP rank builds identical adapters (they are not broadcast).
        torch.manual_seed(config.seed)
        self.adapters = nn.ModuleList(Adapter(*shapes[s]) for s in self.pairs)
        self.student_taps = Taps(student, list(self.pairs), role="student")
        self.teacher_taps = Taps(teacher, list(self.pairs.values()), role="teacher")

    def compute(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
        logits = logits_of(call(model, inputs))
        (teacher_logits,) = self.teacher_logits(inputs)
        hints = sum(
            hint_loss(adapter(self.student_taps[s]), adapter.target(self.teacher_taps[t]))
            for adapter, (s, t) in zip(self.adapters, self.pairs.items(), strict=True)
        )
        c = self.config
        task = kd_loss(logits, teacher_logits, targets, temperature=c.temperature, alpha=c.alpha)
        return task + c.weight * hints

    def remove(self) -> None:
        self.student_taps.remove()
        self.teacher_taps.remove()


@handles(Feature)
def distill_feature(
    student: nn.Module, config: Feature, data: Data, teacher: Teacher, progress: bool
) -> nn.Module:
    teacher = single_teacher(teacher, config.method)
    check_classes(student, [teacher], data)
    loss = FeatureLoss(student, teacher, config, data)
    try:
        return fit(student, loss, data, config, progress)
    finally:
        loss.remove()  # the returned student carries no hooks
