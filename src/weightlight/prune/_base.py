"""What every prune config shares: an optional fine-tune.

(A bad field is a one-line UserError naming its path: `weightlight.config.Config` does that.)
"""

from __future__ import annotations

from pydantic import Field

from weightlight.config import Config, Finetune


class PruneConfig(Config):
    """Base of the prune configs (not a method itself)."""

    finetune: Finetune | None = Field(
        None, description="Fine-tune after pruning through weightlight.train, e.g. {epochs: 3}."
    )
