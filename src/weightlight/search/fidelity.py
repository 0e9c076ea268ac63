"""The search's "cosine" metric: how closely a trial's outputs follow the base model's.

For models without meaningful labels (a transformer's fidelity after int8), 100 x the mean
per-sample output cosine against the base replaces accuracy. Like accuracy, it is computed on
the validation split for selection and on the test split for the report.
"""

from __future__ import annotations

from pathlib import Path

from weightlight.data import Data
from weightlight.search.sensitivity import eval_outputs, output_cosine
from weightlight.variants import Variant


class Fidelity:
    """Scores a trial's final model by its output cosine with the base model (x 100)."""

    NAME = "output cosine vs base (x100)"

    def __init__(self, model, data: Data, factory) -> None:
        self.test = eval_outputs(model, data, loader=data.eval)
        self.val = eval_outputs(model, data) if data.val is not None else None
        self.factory = factory

    def relabel(self, measurement, value: float, val_value: float | None):
        methods = {
            **measurement.methods,
            "metric": "100 x mean per-sample output cosine "
            "versus the base model on test-split batches (selection: validation)",
        }
        # A cosine is higher-is-better whatever the task's own metric (perplexity, MSE) was.
        return measurement.with_updates(
            metric=value, metric_name=self.NAME, methods=methods, val_metric=val_value,
            metric_higher_is_better=True, metric_worst=None,
        )  # fmt: skip

    def score(self, folder: Path, variant: Variant, data: Data):
        from weightlight.models.io import load_model

        loaded = load_model(folder / variant.artifact, factory=self.factory)
        test = 100.0 * output_cosine(self.test, eval_outputs(loaded, data, loader=data.eval))
        val = None
        if self.val is not None:
            val = round(100.0 * output_cosine(self.val, eval_outputs(loaded, data)), 4)
        return self.relabel(variant.measurement, round(test, 4), val)
