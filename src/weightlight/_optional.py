"""Libraries that only some paths need, installed as extras of `pip install weightlight`.

`pip install weightlight` leaves out what only Hugging Face models, a PostgreSQL study or
torchao's int8 need. Every such import goes through `require`, so a user who lacks the library
gets one line naming the extra to install, not a ModuleNotFoundError from inside a loader.
`OPTIONAL` is the one table of them; tests/foundation/test_optional.py checks that each extra
it names exists in pyproject.toml and lists the package.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from weightlight.errors import UserError

# import name -> (distribution on PyPI, the weightlight extra that installs it)
OPTIONAL: dict[str, tuple[str, str]] = {
    "transformers": ("transformers", "hf"),
    "tokenizers": ("tokenizers", "hf"),
    "psycopg": ("psycopg", "postgres"),
    "torchao": ("torchao", "ao"),
}


def require(module: str, needed_for: str) -> ModuleType:
    """Import an optional library (or one of its submodules), or say which extra installs it.

    Args:
        module: the import name, e.g. "transformers" or "torchao.quantization".
        needed_for: what needs it, for the message, e.g. "a Hugging Face model (hf:FOLDER)".

    Raises:
        UserError: the library (or a library it imports) is missing.

    Example:
        >>> transformers = require("transformers", "a Hugging Face model (hf:FOLDER)")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(module.partition(".")[0], needed_for, exc) from None


def missing(name: str, needed_for: str, exc: ImportError | None = None) -> UserError:
    """The one-line error for an optional library `name` that could not be imported."""
    package, extra = OPTIONAL[name]
    # Not installed at all, or installed but broken (one of its own imports fails): the
    # extra reinstalls it with what it needs either way.
    state = "is not installed" if exc is None or exc.name in (name, None) else (
        f"failed to import ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})")  # fmt: skip
    return UserError(
        f"{needed_for} needs the '{package}' package, which {state}",
        f"install it with: pip install 'weightlight[{extra}]'",
    )
