"""Knowledge distillation: `wl.distill(student, config, data, teacher=...)` -> trained student.

Methods (one config each, `method` literal in brackets):
- `Logit` ("logit"): Hinton soft targets mixed with hard labels.
- `Feature` ("feature"): FitNets hints between named layers, through learned adapters; also
  the way to distill across architectures (CNN teacher -> MLP student).
- `Attention` ("attention"): attention transfer between named layers.
- `Relation` ("relation"): RKD distance + angle on embeddings or logits.
- `BornAgain` ("self"): born-again self-distillation; the model's earlier copy teaches it.
- `Online` ("online"): deep mutual learning between peers, no teacher.
- `MultiTeacher` ("multi_teacher"): a weighted ensemble of teachers.
- `Hidden` ("hidden"): hidden-state + pooled-embedding matching of any Hugging Face
  transformer on unlabelled text (a pruned encoder back towards its teacher).
- `LanguageModel` ("lm"): token-level KL from a causal LM teacher's logits.

Every method takes `max_seconds`, a time budget after which training stops.

The losses are pure functions in `weightlight.distill.losses`; all training goes through
`weightlight.train`, so the same call runs under `torchrun` with DDP.
"""

from __future__ import annotations

import copy

from torch import nn

from weightlight._callable_module import make_callable
from weightlight._third_party import third_party
from weightlight.accelerator import use_device
from weightlight.data import Data
from weightlight.distill import losses, taps
from weightlight.distill.attention import Attention
from weightlight.distill.born_again import BornAgain
from weightlight.distill.core import HANDLERS, DistillConfig, Teacher
from weightlight.distill.feature import Feature
from weightlight.distill.hidden import Hidden
from weightlight.distill.language_model import LanguageModel
from weightlight.distill.logit import Logit
from weightlight.distill.multi_teacher import MultiTeacher
from weightlight.distill.online import Online
from weightlight.distill.relation import Relation
from weightlight.errors import UserError

CONFIGS = (
    Logit, Feature, Attention, Relation, BornAgain, Online, MultiTeacher, Hidden, LanguageModel
)  # fmt: skip

__all__ = [
    "CONFIGS",
    "Attention",
    "BornAgain",
    "DistillConfig",
    "Feature",
    "Hidden",
    "LanguageModel",
    "Logit",
    "MultiTeacher",
    "Online",
    "Relation",
    "distill",
    "losses",
    "taps",
]


def distill(
    student: nn.Module,
    config: DistillConfig,
    data: Data,
    *,
    teacher: Teacher = None,
    progress: bool = False,
    device: str | None = None,
) -> nn.Module:
    """Train a copy of `student` to mimic `teacher` (or its peers / earlier self).

    Args:
        student: the model to train, e.g. `wl.models.shrink(teacher, width=0.5)` or any
            nn.Module with the teacher's inputs and number of classes. Not modified.
        config: one of `CONFIGS` (`wl.distill.Logit(temperature=4.0, alpha=0.7, epochs=3)`).
        data: the bundle whose `train` loader is used; its example input checks both models.
        teacher: a trained model (frozen: eval mode, no gradients, never wrapped in DDP); a
            list of models for `MultiTeacher`; None for `Online`, and for `BornAgain` (the
            student's own copy teaches it).
        progress: show the training progress bar.
        device: where student and teachers train (auto, cpu, cuda, cuda:N); default: the
            current `weightlight.accelerator.use_device` choice. The student comes back where
            it was given.

    Returns:
        The trained student, in eval mode, with no hooks left on it.

    Example:
        >>> import weightlight as wl
        >>> data = wl.data.digits()
        >>> teacher = wl.train(wl.models.mnist_cnn(), data, epochs=1, progress=False)
        >>> student = wl.distill(wl.models.shrink(teacher, width=0.5),
        ...                      wl.distill.Logit(temperature=4.0, epochs=1), data, teacher=teacher)
    """
    handler = HANDLERS.lookup(config)
    if not isinstance(student, nn.Module):
        raise UserError(
            f"the student is a {type(student).__name__}, not an nn.Module",
            "pass a PyTorch model (e.g. wl.models.shrink(teacher, width=0.5))",
        )
    if data.task not in config.TASKS:
        others = [c.__name__ for c in CONFIGS if data.task in c.TASKS]
        raise UserError(
            f"distill method '{config.method}' needs a {' or '.join(config.TASKS)} task, the "
            f"data is '{data.task}'",
            f"use wl.distill.{' / '.join(others)} for {data.task} data"
            if others
            else f"use {config.TASKS[0]} data",
        )
    # The handlers train in place (hooks must sit on the model being trained): give them a copy.
    fix = "check that the student runs on data.example_input and gives the teacher's outputs"
    with use_device(device), third_party(f"distill ({config.method})", fix):
        return handler(copy.deepcopy(student), config, data, teacher, progress).eval()


make_callable(__name__, distill)
