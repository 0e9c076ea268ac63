"""Command line: each command is a few lines over the public API (see DESIGN.md)."""

from weightlight.cli import distill as _distill_commands  # noqa: F401  (distill)
from weightlight.cli import export as _export_commands  # noqa: F401  (export)
from weightlight.cli import foundation  # noqa: F401  (registers its commands)
from weightlight.cli import pipeline as _pipeline_commands  # noqa: F401  (run, report)
from weightlight.cli import prune as _prune_commands  # noqa: F401  (sensitivity, prune)
from weightlight.cli import quantize as _quantize_commands  # noqa: F401  (quantize)
from weightlight.cli import search as _search_commands  # noqa: F401  (search, advise)
from weightlight.cli._app import app, main

__all__ = ["app", "main"]
