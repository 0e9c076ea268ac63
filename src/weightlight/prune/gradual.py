"""Gradual (dynamic) pruning: sparsity rises step by step while the model trains.

Unstructured targets are pruned inside the one training loop through its `callbacks`: masks
only change tensors' values, so the optimizer keeps training the same parameters. Structured
targets physically replace parameters, which an optimizer built before the cut would no longer
update, so they run as phases instead: cut to the next scheduled ratio, train, repeat.
Paper: Zhu & Gupta, "To prune, or not to prune", 2017 (the AGP schedule).
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from torch import nn

from weightlight.config import Finetune
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.prune._base import PruneConfig
from weightlight.prune.dispatch import handler
from weightlight.prune.schedule import SCHEDULES, ratios
from weightlight.prune.structured import (
    Structured,
    build_pruner,
    check_outputs,
    output_shapes,
    structured_step,
)
from weightlight.prune.unstructured import (
    Unstructured,
    make_permanent,
    prune_to_sparsity,
    target_layers,
)
from weightlight.train import StepCallback, train

Target = Annotated[Unstructured | Structured, Field(discriminator="method")]


class Gradual(PruneConfig):
    """Reach `target`'s ratio gradually during training, following an AGP or linear schedule.

    Example (YAML):
        `{method: gradual, target: {method: unstructured, ratio: 0.9}, schedule: agp,
          training: {epochs: 5}}`
    """

    method: Literal["gradual"] = "gradual"
    target: Target = Field(description="The pruning reached at the end (its ratio is final).")
    schedule: Literal["agp", "linear"] = Field("agp", description="Sparsity curve over steps.")
    initial: float = Field(0.0, ge=0, lt=1, description="Sparsity at the first pruning step.")
    begin: float = Field(0.0, ge=0, lt=1, description="Fraction of training before pruning.")
    end: float = Field(
        0.7, gt=0, le=1, description="Fraction of training at which the target is reached."
    )
    prunings: int = Field(10, ge=1, description="Number of pruning events between begin and end.")
    training: Finetune = Field(
        default_factory=lambda: Finetune(epochs=5),
        description="The whole training run the pruning happens in (epochs, lr, ...).",
    )

    @model_validator(mode="before")
    @classmethod
    def _former_name(cls, data: Any) -> Any:
        # recipes written before the rename call the training run `finetune`
        if isinstance(data, dict) and "finetune" in data and "training" not in data:
            data = {("training" if k == "finetune" else k): v for k, v in data.items()}
        return data

    @property
    def needs_data(self) -> bool:
        return True

    @model_validator(mode="after")
    def _window(self) -> Gradual:
        if self.end <= self.begin:
            raise ValueError(f"end ({self.end}) must be after begin ({self.begin})")
        if self.target.finetune is not None:
            raise ValueError("target.finetune must be empty: Gradual.training is the training run")
        if self.initial > self.target.ratio:
            raise ValueError(f"initial {self.initial} exceeds target ratio {self.target.ratio}")
        return self


@handler(Gradual)
def _prune_gradual(model: nn.Module, config: Gradual, data: Data) -> nn.Module:
    if isinstance(config.target, Structured):
        return _gradual_structured(model, config, data)
    return _gradual_unstructured(model, config, data)


def _gradual_unstructured(model: nn.Module, config: Gradual, data: Data) -> nn.Module:
    target: Unstructured = config.target
    # Validate layer names on the input before training starts (fail early, nothing done).
    target_layers(model, target.layer_types, target.ignore, "Unstructured")
    step_pruning = unstructured_callback(config)
    net = train(
        model, data, callbacks=[step_pruning], progress=False, **config.training.train_kwargs()
    )
    # Rounding of the step window can leave the last event out: make the final ratio exact.
    pairs = target_layers(net, target.layer_types, target.ignore, "Unstructured")
    prune_to_sparsity(pairs, target.ratio, target.scope, target.importance)
    return (make_permanent(net) if target.permanent else net).eval()


def _gradual_structured(model: nn.Module, config: Gradual, data: Data) -> nn.Module:
    target: Structured = config.target
    if config.initial > 0:
        raise UserError(
            "Gradual.initial must be 0 for a structured target",
            "drop initial (the first cut follows the schedule)",
        )
    net = copy.deepcopy(model).eval()
    example = data.example_input
    pruner = build_pruner(
        net, target, example, steps=config.prunings,
        scheduler=lambda final, steps: ratios(config.schedule, final, steps),
    )  # fmt: skip
    expected = output_shapes(net, example)
    kwargs = config.training.train_kwargs()
    epochs = kwargs.pop("epochs")
    phase = epochs * (config.end - config.begin) / config.prunings
    # in_place: the pruner holds references to this model's layers, so no copies.
    if config.begin > 0:
        train(net, data, epochs=epochs * config.begin, in_place=True, progress=False, **kwargs)
    for _ in range(config.prunings):
        structured_step(pruner, net, target, data)
        train(net, data, epochs=phase, in_place=True, progress=False, **kwargs)
    if config.end < 1:
        train(net, data, epochs=epochs * (1 - config.end), in_place=True, progress=False, **kwargs)
    check_outputs(net.eval(), example, expected)
    return net.eval()


def unstructured_callback(config: Gradual) -> StepCallback:
    """The training-loop callback that raises an Unstructured target's sparsity on schedule.

    Pruning events fall every `interval` steps from `begin * total` to `end * total`; at each
    one the masks grow to the scheduled sparsity (exact integer counts).
    """
    target: Unstructured = config.target
    schedule = SCHEDULES[config.schedule]

    def step_pruning(step: int, total: int, net: nn.Module) -> None:
        start = round(config.begin * total)
        interval = max(1, round((config.end - config.begin) * total / config.prunings))
        if step < start or (step - start) % interval or step > start + config.prunings * interval:
            return
        sparsity = schedule(
            step, initial=config.initial, final=target.ratio, start=start,
            steps=config.prunings, interval=interval,
        )  # fmt: skip
        pairs = target_layers(net, target.layer_types, target.ignore, "Unstructured")
        prune_to_sparsity(pairs, sparsity, target.scope, target.importance)

    return step_pruning
