"""Text that ships with Python itself: the docstrings of a fixed list of standard-library
modules, the embedded language model's training and held-out text (nothing downloaded).

The list names modules whose docstrings do not depend on the operating system (no `os`,
`posixpath`, `socket`), and members are read in sorted order, so the text is the same on every
machine with the same Python minor version (a new minor version edits some docstrings: the
corpus records the version it was read from). Each docstring is one document; documents are
shuffled (seeded) and split before any tokenizer or model sees them, so the held-out text is
text the model never trained on, not a slice of a sentence it did.
"""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
from pathlib import Path

from weightlight.errors import UserError

# Pure documentation modules spread over the library's topics; order does not matter (sorted).
MODULES = (
    "abc", "argparse", "ast", "base64", "bisect", "calendar", "cmd", "code", "codecs",
    "collections", "colorsys", "configparser", "contextlib", "copy", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "dis", "doctest", "email.message", "email.utils", "enum",
    "fileinput", "fnmatch", "fractions", "ftplib", "functools", "getopt", "gettext", "glob",
    "graphlib", "gzip", "hashlib", "heapq", "hmac", "html", "html.parser", "http.client",
    "http.cookies", "imaplib", "inspect", "io", "ipaddress", "itertools", "json", "keyword",
    "linecache", "logging", "logging.handlers", "lzma", "mailbox", "math", "mimetypes",
    "numbers", "operator", "optparse", "pathlib", "pickle", "pickletools", "pprint", "profile",
    "pstats", "queue", "quopri", "random", "re", "reprlib", "sched", "secrets", "selectors",
    "shelve", "shlex", "shutil", "smtplib", "statistics", "string", "stringprep", "struct",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "token", "tokenize", "trace",
    "traceback", "types", "typing", "unittest", "unittest.mock", "urllib.parse",
    "urllib.request", "uuid", "warnings", "wave", "weakref", "xml.dom.minidom",
    "xml.etree.ElementTree", "zipfile", "zipimport", "zoneinfo",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Documents split into train / val / test (no document in two splits)."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    source: str

    @property
    def chars(self) -> int:
        return sum(len(d) for split in (self.train, self.val, self.test) for d in split)


def python_docs(*, seed: int = 0, val_fraction: float = 0.05, test_fraction: float = 0.1) -> Corpus:
    """The standard library's docstrings (`MODULES`), split by document.

    Example:
        >>> corpus = python_docs()
        >>> corpus.source
        'docstrings of 104 standard-library modules, Python 3.11'
    """
    docs = docstrings(MODULES)
    random.Random(seed).shuffle(docs)
    n_test = max(1, round(len(docs) * test_fraction))
    n_val = max(1, round(len(docs) * val_fraction))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Corpus(
        train=tuple(docs[n_test + n_val :]),
        val=tuple(docs[n_test : n_test + n_val]),
        test=tuple(docs[:n_test]),
        source=f"docstrings of {len(MODULES)} standard-library modules, Python {version}",
    )


def docstrings(module_names: tuple[str, ...]) -> list[str]:
    """Every distinct docstring (module, its public classes, their public methods, its public
    functions) of the modules, in a fixed order; the first of duplicates kept.

    Read in a fresh interpreter that imports only the standard library (`_stdlib_docs.py`), so
    what this process has imported cannot change the text.
    """
    script = Path(__file__).with_name("_stdlib_docs.py")
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", str(script), *module_names],
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        return json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        raise UserError(
            f"the standard library's docstrings could not be read ({type(exc).__name__})",
            "check that this Python's standard library is complete",
        ) from None
