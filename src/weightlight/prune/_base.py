"""The prune config bases: every method, and the one-shot methods with their optional fine-tune.

(A bad field is a one-line UserError naming its path: `weightlight.config.Config` does that.)
"""

from __future__ import annotations

from pydantic import Field

from weightlight.config import Config, Finetune


class PruneConfig(Config):
    """Base of the prune configs (not a method itself)."""


class OneShotPruneConfig(PruneConfig):
    """A pruning done at once (Unstructured, Structured, NM), optionally fine-tuned after.

    (Gradual prunes during a training run instead: its `training` field is that run.)
    """

    finetune: Finetune | None = Field(
        None, description="Fine-tune after pruning through weightlight.train, e.g. {epochs: 3}."
    )
