"""The typer app, its error boundary, and options shared by several commands."""

from __future__ import annotations

import logging
import sys
import warnings

import typer
from rich.console import Console
from rich.markup import escape

from weightlight.errors import UserError, one_line

try:  # typer >= 0.20 vendors click; older typer uses the click package
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click import ClickException

app = typer.Typer(
    name="weightlight",
    help="Make trained PyTorch models lighter: prune, quantize, distill, export, and measure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
# Piped output (CI logs, `| less`) gets a wide table instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

DATA_HELP = (
    "Data source: 'digits' (bundled), mnist:FOLDER (MNIST's IDX files), a .npz file (x, y), "
    "an image folder, a text file (.txt one sentence a line, .jsonl with a 'text' field; "
    "tokenized by --model hf:FOLDER's tokenizer), or module:function."
)
TASK_HELP = (
    "Task, which picks the metric: classification (top-1), embedding (cosine vs the base, "
    "mean-pooled last_hidden_state), regression (MSE), causal_lm (perplexity). "
    "Default: the data's (text files: embedding)."
)
MAX_LENGTH_HELP = "Text data: tokens per sentence at most (longer ones are truncated)."
FIXED_LENGTH_HELP = "Text data: pad every batch to --max-length (default: to its longest)."
MODEL_FACTORY_HELP = (
    "Architecture for a weights file: a built-in name (mnist_cnn, resnet_small, mlp) or "
    "module:function returning an nn.Module. Code is imported only from this option."
)
DEVICE_HELP = (
    "Where training, distillation, QAT and calibration run: auto (a GPU when torch sees one), "
    "cpu, cuda or cuda:N. Under torchrun each rank uses its local GPU. Measuring stays on the CPU."
)
TRUST_HELP = (
    "Allow unpickling a whole model from a .pt file. Unpickling runs code: trusted files only."
)


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    """'1,64' -> (1, 64), with a one-line error for anything else."""
    try:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserError(
            f"batch sizes '{text}' are not integers", "use e.g. --batch-sizes 1,64"
        ) from None
    if not sizes or any(s < 1 for s in sizes):
        raise UserError(f"batch sizes '{text}' must be >= 1", "use e.g. --batch-sizes 1,64")
    return sizes


def main() -> None:
    """Console entry point: a UserError becomes one line on stderr and exit code 2.

    typer runs in non-standalone mode so that Ctrl-C reaches this handler (standalone click
    swallows it) and the user is told that finished work is kept.
    """
    warnings.showwarning = _one_line_warning
    _quiet_optional_libraries()
    try:
        code = app(standalone_mode=False)
    except UserError as exc:  # escaped: a message naming e.g. '[fc1]' is not rich markup
        _fail(f"[bold red]error:[/] {escape(one_line(str(exc)))}", exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted: finished variants are saved; rerun with --resume to continue", 130)
    except ClickException as exc:  # usage errors: unknown option, missing argument, bad type
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "weightlight"
        _fail(
            f"[bold red]error:[/] {escape(one_line(exc.format_message()))}; "
            f"see '{escape(command)} --help'",
            exc.exit_code,
        )
    if code == 130:  # typer turns KeyboardInterrupt into exit code 130
        _fail("interrupted: finished variants are saved; rerun with --resume to continue", 130)
    sys.exit(code if isinstance(code, int) else 0)


# torchao (the [ao] extra), imported lazily by transformers whenever a model is built, logs
# "Failed to load ..._C_cutlass_90a.so" for its GPU kernels on every CPU-only machine, and torch
# logs a deprecation about torchao's Enum registrations: neither is the user's concern.
_NOISY_LOGGERS = ("torchao", "torch.utils._pytree")


def _quiet_optional_libraries() -> None:
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library warning as one line: Python's default adds the source line that raised it,
    which reads like a traceback to a user who did nothing wrong in Python."""
    text = one_line(str(message)) or category.__name__
    err_console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)


def _fail(message: str, code: int) -> None:
    err_console.print(message, highlight=False, soft_wrap=True)
    sys.exit(code)
