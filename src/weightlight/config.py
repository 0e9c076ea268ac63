"""The base of every technique config: frozen, no unknown keys, one definition for Python and YAML.

Each technique config is a subclass with a `method: Literal["..."]` field, so a recipe stage can
be parsed by discriminating on `method`, and a typo in a key fails at load with its path.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Finetune(Config):
    """Fine-tuning after a technique, through the one training loop (`weightlight.train`).

    Example (YAML): `finetune: {epochs: 3, lr: 0.001}`
    """

    epochs: float = Field(3, gt=0, description="Passes over the training set.")
    lr: float = Field(1e-3, gt=0, description="Peak learning rate (one-cycle schedule).")
    weight_decay: float = Field(1e-4, ge=0, description="Decoupled weight decay.")
    optimizer: str = Field("adamw", pattern="^(adamw|sgd)$", description="adamw or sgd.")
    seed: int = Field(0, description="Seed for shuffling and dropout.")

    def train_kwargs(self) -> dict:
        """Keyword arguments for `weightlight.train`."""
        return {
            "epochs": self.epochs,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "optimizer": self.optimizer,
            "seed": self.seed,
        }
