"""The Data bundle: what every technique and measurement reads its batches from.

A `Data` holds four loaders (train for fine-tuning, calib for calibration, val for choosing
between variants, eval for the metric reported on held-out data) plus one example input, so
techniques never guess shapes. Choosing the "best" variant on the same set whose figure is
reported would flatter it (the winner of many noisy comparisons looks better than it is), so
`val` is carved from the training split (seeded, stratified) and `eval` stays untouched.
User loaders are kept as given (their collate_fn, sampler and workers too); a batch is a
tensor, a tuple or a dict (see `weightlight.batch`). The task says what the metric is, and the
adapter which output of the model it reads (see `weightlight.adapter`).
"""

from __future__ import annotations

import dataclasses

import torch
from torch.utils.data import DataLoader, Dataset

from weightlight import batch as batches
from weightlight.adapter import ModelAdapter
from weightlight.errors import UserError
from weightlight.tasks import Task, get_task


@dataclasses.dataclass(frozen=True)
class Data:
    """Train / calibration / evaluation loaders plus an example input.

    Attributes:
        train: loader for fine-tuning (shuffled, seeded).
        calib: a small loader drawn from the training split, for calibration.
        eval: held-out test loader: the metric every report shows.
        val: validation loader carved from the training data: what selection (the report's
            "best", search winners, sensitivity ranking) compares on. None for bundles built
            before it existed or by hand; selection then falls back to `eval` and says so.
        example_input: one batch of size 1 in the form the model takes (tensor, tuple, dict).
        task: classification, embedding, regression or causal_lm (see `weightlight.tasks`).
        num_classes: number of classes for classification.
        name: where the data came from, for reports.
        adapter: which model output the task reads, and its pooling.
        reference: the base model's outputs on each `eval` batch (the embedding task's
            targets), set by `with_reference`.
    """

    train: DataLoader
    calib: DataLoader
    eval: DataLoader
    example_input: batches.Inputs
    task: str = "classification"
    num_classes: int | None = None
    name: str = "data"
    adapter: ModelAdapter = ModelAdapter()
    reference: tuple[torch.Tensor, ...] | None = None
    val: DataLoader | None = None
    val_reference: tuple[torch.Tensor, ...] | None = None

    @property
    def selection(self) -> DataLoader:
        """The loader choices are made on: `val`, or `eval` when there is no validation split."""
        return self.val if self.val is not None else self.eval

    def __post_init__(self) -> None:
        get_task(self.task)  # an unknown task fails here, listing the tasks

    @property
    def task_spec(self) -> Task:
        return get_task(self.task)

    def example_batch(self, batch_size: int) -> batches.Inputs:
        """The example input repeated to `batch_size` (for latency and export)."""
        return batches.repeat(self.example_input, batch_size)

    def with_reference(self, model) -> Data:
        """A copy whose `reference` (and `val_reference`) hold `model`'s outputs on every eval
        (and val) batch.

        The embedding task scores a variant by the cosine of its embeddings with these.
        """
        was_training = getattr(model, "training", False)
        if hasattr(model, "eval"):
            model.eval()

        def outputs(loader: DataLoader) -> tuple[torch.Tensor, ...]:
            with torch.inference_mode():
                return tuple(
                    self.adapter.forward(model, batches.split(b)[0]).float() for b in loader
                )

        try:
            reference = outputs(self.eval)
            val_reference = outputs(self.val) if self.val is not None else None
        finally:
            if was_training:
                model.train()
        return dataclasses.replace(self, reference=reference, val_reference=val_reference)


def from_loaders(
    train: DataLoader,
    eval: DataLoader,
    calib: DataLoader | None = None,
    *,
    val: DataLoader | None = None,
    task: str = "classification",
    output: str | None = None,
    pooling: str | None = None,
    num_classes: int | None = None,
    name: str = "loaders",
) -> Data:
    """Bundle the user's own loaders, kept exactly as given (collate_fn, sampler, workers).

    Args:
        train, eval: loaders yielding `(inputs, targets)`, a dict batch (targets under
            `labels`) or bare inputs (no targets: the embedding task).
        calib: calibration loader; the training loader when None.
        val: validation loader selection compares on; `eval` is used (and reports say so)
            when None.
        task: classification, embedding, regression or causal_lm.
        output, pooling: the model output the task reads and how it is pooled (embedding:
            `last_hidden_state` with mask-weighted mean pooling unless told otherwise).

    Example:
        >>> data = from_loaders(train_dl, eval_dl, task="embedding")
        >>> data.adapter.pooling
        'mean'
    """
    spec = get_task(task)
    if spec.pooled and output is None and pooling is None:
        output, pooling = "last_hidden_state", "mean"
    try:
        example = batches.first_sample(eval)
    except StopIteration:
        raise UserError(f"{name}: the eval loader yields no batches", "give it data") from None
    return Data(
        train=train,
        calib=calib if calib is not None else train,
        eval=eval,
        example_input=example,
        task=task,
        num_classes=num_classes,
        name=name,
        adapter=ModelAdapter(output=output, pooling=pooling),
        val=val,
    )


def dataset_of(loader: DataLoader) -> Dataset:
    """The dataset behind a loader (used to re-shard it under DDP)."""
    return loader.dataset
