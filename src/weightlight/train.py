"""The one training loop: every fine-tune, QAT run and distillation goes through `train`.

The loss is pluggable (`loss(model, inputs, targets) -> scalar`); if it is an nn.Module its
parameters (e.g. a distillation adapter) are optimized too. Callbacks run after every optimizer
step (gradual pruning hooks in here). Under `torchrun` the model is wrapped in
DistributedDataParallel and the training set is sharded; without it the same call runs in one
process.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DistributedSampler

from weightlight import batch as batches
from weightlight.accelerator import Accelerator, device_of
from weightlight.adapter import ModelAdapter
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.tasks import Task, get_task, lm_targets, task_loss

Loss = Callable[[nn.Module, batches.Inputs, torch.Tensor], torch.Tensor]
StepCallback = Callable[[int, int, nn.Module], None]


def cross_entropy(model: nn.Module, inputs: batches.Inputs, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the model's main output (logits) against hard labels."""
    return F.cross_entropy(ModelAdapter().forward(model, inputs), targets)


class TaskLoss:
    """The default loss: the task's own (cross-entropy, MSE, next-token cross-entropy) on the
    output the data's adapter declares."""

    def __init__(self, task: Task, adapter: ModelAdapter) -> None:
        self.task, self.adapter = task, adapter

    def __call__(self, model: nn.Module, inputs, targets) -> torch.Tensor:
        return task_loss(self.task, self.adapter.forward(model, inputs), targets)


def train(
    model: nn.Module,
    data: Data,
    *,
    epochs: float = 15,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    optimizer: str = "adamw",
    schedule: str = "onecycle",
    loss: Loss | None = None,
    callbacks: Iterable[StepCallback] = (),
    seed: int = 0,
    progress: bool = True,
    in_place: bool = False,
    device: str | None = None,
    max_seconds: float | None = None,
) -> nn.Module:
    """Train a copy of `model` on `data.train` and return it in eval mode.

    Args:
        model: the model to start from; it is not modified (unless `in_place`).
        data: the bundle whose `train` loader is used.
        epochs: passes over the training set (fractions allowed, e.g. 0.5).
        lr: peak learning rate.
        weight_decay: decoupled weight decay (AdamW) or L2 (SGD).
        optimizer: "adamw" or "sgd" (momentum 0.9, nesterov).
        schedule: "onecycle" (warm-up then cosine decay), "cosine" or "constant".
        loss: `loss(model, inputs, targets)`; the task's loss when None (cross-entropy for
            classification). If it is an nn.Module, its parameters are trained as well.
        callbacks: called as `cb(step, total_steps, model)` after each optimizer step.
        seed: seeds initialisation-free randomness (shuffling, dropout).
        progress: show a progress bar (rank 0 only).
        in_place: train `model` itself instead of a copy (saves memory for big models).
        device: auto, cpu, cuda or cuda:N (default: `accelerator.current_device()`, `auto`
            unless a caller chose). The model (and a loss module's parameters and teachers)
            train there and come back to the device they started on.
        max_seconds: a time budget: stop after the first step that ends past it (the
            schedule still spans `epochs`, so a stopped run ends at a higher learning rate).

    Example:
        >>> import weightlight as wl
        >>> model = wl.train(wl.models.mnist_cnn(), wl.data.digits(), epochs=1, progress=False)
    """
    if epochs <= 0:
        raise UserError(f"epochs must be > 0, got {epochs}", "use e.g. epochs: 3")
    if lr <= 0:
        raise UserError(f"lr must be > 0, got {lr}", "use e.g. lr: 0.001")
    if max_seconds is not None and max_seconds <= 0:
        raise UserError(f"max_seconds must be > 0, got {max_seconds}", "use e.g. 600")
    loss_fn = loss or TaskLoss(get_task(data.task), data.adapter)
    callbacks = list(callbacks)
    accelerator = Accelerator.start(device)  # a bad or missing device fails before any work
    torch.manual_seed(seed)
    net = model if in_place else copy.deepcopy(model)
    net.train()
    home = device_of(net)
    runner = accelerator.prepare(net)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(accelerator.device)
    loader = accelerator.loader(data.train, seed)

    params = [p for p in net.parameters() if p.requires_grad]
    if isinstance(loss_fn, nn.Module):
        params += [p for p in loss_fn.parameters() if p.requires_grad]
    opt = _optimizer(optimizer, params, lr, weight_decay)
    steps_per_epoch = len(loader)
    total = max(1, math.ceil(epochs * steps_per_epoch))
    sched = _schedule(schedule, opt, lr, total)

    step, planned, started = 0, total, time.monotonic()
    deadline = None if max_seconds is None else started + max_seconds
    with _progress(progress and accelerator.is_main, total) as advance:
        while step < total:
            if isinstance(loader.sampler, DistributedSampler):
                loader.sampler.set_epoch(step // steps_per_epoch)
            for b in loader:
                inputs, targets = _inputs_and_targets(accelerator.place(b), data)
                opt.zero_grad(set_to_none=True)
                if step == 0:  # a model/data mismatch shows up here: say so in one line
                    value = _first_loss(loss_fn, runner, inputs, targets)
                else:
                    value = loss_fn(runner, inputs, targets)
                if not torch.isfinite(value):
                    raise UserError(
                        f"training diverged at step {step} (loss {value.item()})",
                        "lower the learning rate (lr) or check the data for extreme values",
                    )
                value.backward()
                opt.step()
                sched.step()
                step += 1
                for cb in callbacks:
                    cb(step, total, net)
                advance(value.item())
                if deadline is not None and time.monotonic() > deadline:
                    total = step  # out of time: this step was the last
                if step >= total:
                    break
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(home)
    # A plain dict (it pickles under weights_only): how much of the schedule ran, for the note
    # a run's variant gets (`training_note`); a time budget may have cut it short.
    net.weightlight_training = {
        "steps": step, "planned": planned, "seconds": round(time.monotonic() - started, 1),
        "budget": max_seconds,
    }  # fmt: skip
    return net.to(home).eval()


def training_note(log: dict) -> str:
    """'time budget: training stopped after 900 s, at step 412 of 1,200 (...)' or 'trained 20
    of 20 steps in 3 s (time budget 120 s)': what `train` recorded on the model it returned."""
    steps, planned, seconds, budget = (log[k] for k in ("steps", "planned", "seconds", "budget"))
    if steps < planned:
        return (
            f"time budget: training stopped after {seconds:g} s, at step {steps:,} of "
            f"{planned:,} (raise max_seconds to run every epoch)"
        )
    within = f" (time budget {budget:g} s)" if budget is not None else ""
    return f"trained {steps:,} of {planned:,} steps in {seconds:g} s{within}"


def _inputs_and_targets(b, data: Data):
    """A training batch's inputs and targets (a causal LM's are its own next tokens)."""
    inputs, targets = batches.split(b)
    if targets is None and data.task == "causal_lm" and isinstance(inputs, dict):
        targets = lm_targets(inputs["input_ids"], inputs.get("attention_mask"))
    return inputs, targets


def _first_loss(loss_fn, runner: nn.Module, inputs, targets) -> torch.Tensor:
    """The first step's loss; a model that rejects the data's batches is the user's mistake."""
    try:
        return loss_fn(runner, inputs, targets)
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UserError(
            f"the model cannot train on the data's batches of {batches.describe(inputs)} "
            f"({detail})",
            "use data with the inputs and labels the model was built for",
        ) from None


def _optimizer(name: str, params, lr: float, wd: float) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    raise UserError(f"unknown optimizer '{name}'", "choose adamw or sgd")


def _schedule(name: str, opt, lr: float, total: int):
    if name == "onecycle":
        # pct_start 0.15: a short warm-up keeps fine-tuning of a pruned model from jolting it.
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=lr, total_steps=total, pct_start=0.15
        )
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    raise UserError(f"unknown schedule '{name}'", "choose onecycle, cosine or constant")


class _progress:
    """A rich progress bar over steps, or a no-op when disabled."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total

    def __enter__(self) -> Callable[[float], None]:
        if not self.enabled:
            return lambda _loss: None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("training"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(), transient=True,
        )  # fmt: skip
        self.bar.__enter__()
        task = self.bar.add_task("train", total=self.total, loss=float("nan"))
        return lambda loss: self.bar.update(task, advance=1, loss=loss)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)
