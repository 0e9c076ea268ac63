"""Silence the exporters and optimizers, which print progress and warnings: library code
must not print (the CLI and reports decide what the user sees)."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

_LOGGERS = ("torch.onnx", "torch.export", "onnxscript", "onnxruntime", "onnx_ir", "onnxslim")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Route stdout/stderr to a buffer, ignore warnings, raise noisy loggers to ERROR."""
    loggers = [logging.getLogger(n) for n in _LOGGERS]
    root = logging.getLogger()
    levels = [lg.level for lg in loggers]
    root_level = root.level
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    root.setLevel(logging.ERROR)  # ORT's transformer fusions log through the root logger
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        root.setLevel(root_level)
