"""Atomic file writes: a reader never sees a half-written file, a crash leaves no partial one."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from weightlight.errors import UserError

# Errors of the place being written to (full disk, read-only or unwritable folder, a file where
# a folder should be): the user can fix these, so they become a one-line UserError.
_PLACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                 errno.ENOTDIR, errno.EEXIST, errno.EISDIR}  # fmt: skip


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    On any failure the temporary file is removed and `path` keeps its previous content; a full
    disk or an unwritable destination raises `UserError` naming `path`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.errno not in _PLACE_ERRNOS:
            raise
        raise _write_error(path, exc) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def ensure_writable_dir(folder: str | os.PathLike) -> Path:
    """Create `folder` and prove a file can be written in it (before any long work starts)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _write_error(folder, exc) from None
    return folder


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """Fail now, in one line, if `path` could not be written at the end of a long job.

    Catches a file where a folder must be (the path itself or any parent), a folder where the
    file must be, and an unwritable place. Creates nothing, so a refused command leaves no trace.
    """
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        what = "a folder" if path.is_dir() else "a file"
        raise UserError(
            f"cannot write '{path}': {what} of that name is in the way",
            "move it away, or choose another location",
        )
    place = path if path.is_dir() else path.parent
    while not place.exists() and place != place.parent:
        place = place.parent  # the first existing ancestor is where creation would start
    if not place.is_dir():
        raise UserError(
            f"cannot write '{path}': '{place}' is a file, not a folder",
            "a parent of this path is a file, not a folder: choose another location",
        )
    if not os.access(place, os.W_OK | os.X_OK):
        raise UserError(f"cannot write '{path}' ('{place}' is not writable)",
                        "choose a writable location")  # fmt: skip
    return path


def check_writable_layout(
    folder: str | os.PathLike, *, folders: tuple[str, ...] = (), files: tuple[str, ...] = ()
) -> Path:
    """`check_writable` for a folder and the sub-folders and files a job will write in it."""
    folder = check_writable(folder, folder=True)
    for name in folders:
        check_writable(folder / name, folder=True)
    for name in files:
        check_writable(folder / name)
    return folder


def _write_error(path: Path, exc: OSError) -> UserError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "free disk space (or write elsewhere) and run again"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        fix = "a parent of this path is a file, not a folder: choose another location"
    else:
        fix = "choose a writable location"
    return UserError(f"cannot write '{path}' ({exc.strerror or exc})", fix)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp_path)` and move the result onto `path` atomically."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    return write_atomic(path, lambda p: p.write_bytes(data))
