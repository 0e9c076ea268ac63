"""What every prune config shares: an optional fine-tune, and one-line errors on bad fields.

Pydantic raises a multi-line `ValidationError`; a user typing `Structured(ratio=1.5)` in Python
should get the same one-line `UserError` the CLI prints, so construction converts it here.
(Recipes validate through pydantic's own path and keep pydantic's error with the field path.)
"""

from __future__ import annotations

from pydantic import Field, ValidationError

from weightlight.config import Config, Finetune
from weightlight.errors import UserError


class PruneConfig(Config):
    """Base of the prune configs (not a method itself)."""

    finetune: Finetune | None = Field(
        None, description="Fine-tune after pruning through weightlight.train, e.g. {epochs: 3}."
    )

    def __init__(self, **data) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise UserError(_first_problem(type(self).__name__, exc), _fix(exc)) from None


def _first_problem(name: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "config"
    return f"{name}.{where}: {err['msg']} (got {err.get('input')!r})"


def _fix(exc: ValidationError) -> str:
    kind = exc.errors()[0]["type"]
    if kind == "extra_forbidden":
        return "remove the unknown field (see docs/pruning.md for the fields of each method)"
    return "use a value in the documented range (see docs/pruning.md)"
