"""What every distillation method shares: the config base, the handler registry, the loss
module base (teachers frozen, adapters synchronised under DDP) and the checks run up front.

A method is a config class plus one handler registered with `@handles(ConfigClass)`; the verb
`wl.distill(student, config, data, teacher=...)` only looks the handler up, so adding a method
never touches it (torchao's pattern).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.distributed as dist
from pydantic import Field
from torch import nn

from weightlight._registry import Registry
from weightlight.batch import call, describe
from weightlight.config import Finetune
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.outputs import output_tensor
from weightlight.train import train

Teacher = nn.Module | list[nn.Module] | tuple[nn.Module, ...] | None
Handler = Callable[[nn.Module, "DistillConfig", Data, Teacher, bool], nn.Module]
HANDLERS: Registry[Handler] = Registry("distillation config", "pass one of wl.distill.{{{names}}}")


class DistillConfig(Finetune):
    """Training knobs shared by every method (the fields of `weightlight.config.Finetune`).

    A distilled student often starts from scratch, so the default learning rate is the
    training loop's (3e-3) rather than the gentler fine-tuning one.
    """

    # The data tasks a method can learn from (`wl.distill` refuses the others in one line).
    TASKS: ClassVar[tuple[str, ...]] = ("classification",)

    lr: float = Field(3e-3, gt=0, description="Peak learning rate (one-cycle schedule).")
    max_seconds: float | None = Field(
        None,
        gt=0,
        description="Time budget: stop training after this many seconds (None: all epochs).",
    )

    def train_kwargs(self) -> dict:
        """Keyword arguments for `weightlight.train`, the time budget included."""
        return {**super().train_kwargs(), "max_seconds": self.max_seconds}


handles = HANDLERS.register  # `@handles(Config)`: the function that runs that config class


def frozen(teacher: nn.Module) -> nn.Module:
    """A private eval-mode, no-grad copy of a teacher: the caller's model is left untouched,
    and the copy is never wrapped in DDP (each rank runs its own teacher forward)."""
    if not isinstance(teacher, nn.Module):
        raise UserError(
            f"the teacher is a {type(teacher).__name__}, not an nn.Module",
            "pass a PyTorch model as teacher=",
        )
    clone = copy.deepcopy(teacher).eval()
    clone.requires_grad_(False)
    return clone


def output_classes(model: nn.Module, data: Data, role: str) -> int:
    """Run the example input once and return the width of the logits (checked up front)."""
    was_training = model.training
    try:
        with torch.no_grad():
            out = data.adapter.forward(model.eval(), data.example_batch(2))
    except (RuntimeError, ValueError, TypeError) as exc:
        raise UserError(
            f"the {role} cannot run on the data's input {describe(data.example_input)} "
            f"({str(exc).splitlines()[0][:160]})",
            f"use a {role} built for this data",
        ) from None
    finally:
        model.train(was_training)
    if out.dim() != 2:
        raise UserError(
            f"the {role} returns outputs of shape {tuple(out.shape)}, not (batch, classes) logits",
            "distillation needs classification logits from both models",
        )
    return out.shape[1]


def check_classes(student: nn.Module, teachers: list[nn.Module], data: Data) -> int:
    """Student, every teacher and the data must agree on the number of classes."""
    n_student = output_classes(student, data, "student")
    for i, teacher in enumerate(teachers):
        role = "teacher" if len(teachers) == 1 else f"teacher {i}"
        n_teacher = output_classes(teacher, data, role)
        if n_teacher != n_student:
            raise UserError(
                f"the {role} predicts {n_teacher} classes but the student predicts {n_student}",
                "build the student with the teacher's number of classes (num_classes=...)",
            )
    if data.num_classes is not None and n_student < data.num_classes:
        raise UserError(
            f"the student predicts {n_student} classes but the data has {data.num_classes}",
            f"build the student with num_classes={data.num_classes}",
        )
    return n_student


def single_teacher(teacher: Teacher, method: str) -> nn.Module:
    if teacher is None:
        raise UserError(f"distill method '{method}' needs a teacher", "pass teacher=your_model")
    if isinstance(teacher, (list, tuple)):
        raise UserError(
            f"distill method '{method}' takes one teacher, got {len(teacher)}",
            "use wl.distill.MultiTeacher(...) for several teachers",
        )
    return frozen(teacher)


logits_of = output_tensor  # the name the loss modules read best with


class DistillLoss(nn.Module):
    """Base of every method's loss: `loss(student, inputs, targets) -> scalar`.

    Teachers live in a plain list, so they are neither optimized by `train` nor moved with the
    loss; the loss's own parameters (adapters) are optimized by `train`. Under torchrun the
    student's gradients are averaged by DDP, but the adapters sit outside it, so their
    gradients are all-reduced here by hooks (installed on the first call, once the process
    group exists) to keep every rank's adapters identical.
    """

    def __init__(self, teachers: list[nn.Module]) -> None:
        super().__init__()
        self.teachers = list(teachers)
        self._synced = False

    def to(self, *args, **kwargs) -> DistillLoss:
        """Move the adapters and the teachers (kept outside the module tree) together, so the
        training loop's one `loss.to(device)` puts every teacher where the student trains."""
        self.teachers = [t.to(*args, **kwargs) for t in self.teachers]
        return super().to(*args, **kwargs)

    def teacher_logits(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        with torch.no_grad():
            return [logits_of(call(t, inputs)) for t in self.teachers]

    def forward(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
        if not self._synced:
            self._synced = True
            _average_grads_across_ranks(self)
        return self.compute(model, inputs, targets)

    def compute(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
        raise NotImplementedError


def _average_grads_across_ranks(module: nn.Module) -> None:
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return
    world = dist.get_world_size()

    def average(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad / world

    for p in module.parameters():
        if p.requires_grad:
            p.register_hook(average)


def fit(
    student: nn.Module, loss: DistillLoss, data: Data, config: DistillConfig, progress: bool
) -> nn.Module:
    """Train `student` (already a private copy) in place through the one training loop."""
    return train(
        student, data, loss=loss, progress=progress, in_place=True, **config.train_kwargs()
    )


def reinitialize(model: nn.Module, seed: int) -> nn.Module:
    """Fresh weights for every layer that can reset itself (born-again students, peers)."""
    torch.manual_seed(seed)
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model
