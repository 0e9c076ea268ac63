"""Command line: each command is a few lines over the public API (see DESIGN.md)."""

from weightlight.cli import foundation  # noqa: F401  (registers its commands)
from weightlight.cli._app import app, main

__all__ = ["app", "main"]
