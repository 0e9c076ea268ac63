"""The base of every technique config: frozen, no unknown keys, one definition for Python and YAML.

Each technique config is a subclass with a `method: Literal["..."]` field, so a recipe stage can
be parsed by discriminating on `method`, and a typo in a key fails at load with its path.

Pydantic raises a multi-line `ValidationError`; `user_error` is the one place that turns it
into the project's one-line `UserError` naming the field path, used by `Config(...)` in Python
and by recipe loading (which validates through pydantic and does not call `__init__`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weightlight.errors import UserError

RECIPE_DOCS = "docs/reference-recipes.md"
# True while an enclosing validation will convert the error itself (with the full field path)
_NESTED: ContextVar[bool] = ContextVar("weightlight_config_nested", default=False)


@contextmanager
def raw_validation_errors() -> Iterator[None]:
    """Inside: configs raise pydantic's ValidationError, so the caller sees the whole path.

    Pydantic calls a nested config's `__init__` while validating its parent; converting there
    would lose the parent's part of the path (`stages[0].prune.` in a recipe).
    """
    token = _NESTED.set(True)
    try:
        yield
    finally:
        _NESTED.reset(token)


def user_error(
    exc: ValidationError,
    prefix: str = "",
    valid_keys: Callable[[tuple], list[str]] | None = None,
    model: type[BaseModel] | None = None,
) -> UserError:
    """The first pydantic error as one line: `prefix.field.path: problem (got value)`; fix.

    Args:
        exc: what pydantic raised.
        prefix: where the validated object sits (`Structured`, `stages[2]`).
        valid_keys: field names allowed at an error's location, for an unknown key.
        model: the class validated, whose field descriptions say what a field wants.

    Example:
        >>> from weightlight.prune import Structured
        >>> try:
        ...     Structured(ratio=1.5)
        ... except UserError as e:
        ...     print(e.problem)
        Structured.ratio: Input should be less than 1 (got 1.5)
    """
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
    path = ".".join(p for p in (prefix, loc) if p)
    given = err.get("input")
    shown = f" (got {given!r})" if not isinstance(given, (dict, list)) and given is not None else ""
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        if valid_keys is not None:
            valid = valid_keys(err["loc"])
        else:  # the validated class's own fields, for a key at its top level
            valid = sorted(model.model_fields) if model and len(err["loc"]) == 1 else []
        hint = f"valid keys here: {', '.join(valid)}" if valid else "check the spelling"
        return UserError(f"{path}: unknown key", hint)
    if err["type"] == "union_tag_invalid":
        return UserError(f"{path}: {msg}", "use one of the listed methods")
    if err["type"] == "union_tag_not_found":
        return UserError(f"{path}: missing 'method'", "add method: <one of the methods here>")
    field = model.model_fields.get(str(err["loc"][0])) if model and err["loc"] else None
    if field is not None and field.description:
        fix = f"{err['loc'][0]}: {field.description}"
    else:
        fix = f"fix this field (see {RECIPE_DOCS})"
    return UserError(f"{path + ': ' if path else ''}{msg}{shown}", fix)


class Config(BaseModel):
    """Base of every technique config; a bad field is a one-line UserError with its path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data) -> None:
        if _NESTED.get():
            super().__init__(**data)
            return
        try:
            with raw_validation_errors():
                super().__init__(**data)
        except ValidationError as exc:
            raise user_error(exc, type(self).__name__, model=type(self)) from None


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
