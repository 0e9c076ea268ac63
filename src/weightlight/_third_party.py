"""A third-party failure is never raw: an exception a library raises inside a stage becomes one
UserError line naming the stage, the library, what it said, and what to use instead.

The verbs (`prune`, `quantize`, `distill`, `export`, `quantize_onnx`) run their handler inside
`third_party(stage, fix)`. Only exceptions whose innermost Python frame lies outside
weightlight are turned into a UserError: one raised by weightlight's own code is a bug of ours,
and stays raw so that tests see it. BaseExceptions (Ctrl-C, a time limit) pass through.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from weightlight.errors import UserError, one_line

# Module prefixes -> the name a user knows the library by (first match wins).
_LIBRARIES = (
    ("torch_pruning", "Torch-Pruning"),
    ("torch.fx", "torch.fx"),
    ("torch.ao", "torch.ao.quantization"),
    ("torch.export", "torch.export"),
    ("torch._dynamo", "torch.export"),
    ("torch._export", "torch.export"),
    ("torch.onnx", "torch.onnx"),
    ("torchao", "torchao"),
    ("onnxruntime", "ONNX Runtime"),
    ("onnxslim", "onnxslim"),
    ("onnx", "onnx"),
    ("transformers", "transformers (the model's code)"),
    ("torch", "torch"),
)


def library_of(exc: BaseException) -> str | None:
    """The library whose code raised `exc` (its innermost Python frame), None for weightlight."""
    tb, module = exc.__traceback__, None
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "") or ""
        tb = tb.tb_next
    if module is None or module == "weightlight" or module.startswith("weightlight."):
        return None
    for prefix, name in _LIBRARIES:
        if module == prefix or module.startswith(prefix + "."):
            return name
    return module.split(".")[0]  # the user's own model code, or another library


@contextlib.contextmanager
def third_party(stage: str, fix: str) -> Iterator[None]:
    """Turn a library's exception inside `stage` into one UserError line ending with `fix`.

    Example:
        >>> with third_party("quantize (static_int8)", "use wl.quantize.Dynamic"):
        ...     torch.fx.symbolic_trace(model)
        UserError: quantize (static_int8) failed inside torch.fx (TraceError: ...); use ...
    """
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        library = library_of(exc)
        if library is None:
            raise
        said = one_line(str(exc))[:160] or "no message"
        raise UserError(
            f"{stage} failed inside {library} ({type(exc).__name__}: {said})", fix
        ) from exc
