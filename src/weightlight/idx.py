"""MNIST's IDX files: find the four files a learner already has and read them (nothing downloads).

The IDX format (http://yann.lecun.com/exdb/mnist/) is a 4-byte magic number — two zero bytes,
a type code (0x08 = unsigned byte) and the number of dimensions — then each dimension as a
big-endian int32, then the values. The files come plain or gzipped
(`train-images-idx3-ubyte.gz`), sometimes with a dot before `idx` (`train-images.idx3-ubyte`),
loose in a folder or in torchvision's layout (`ROOT/MNIST/raw/`).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from weightlight.errors import UserError

# Type codes of the IDX format -> numpy dtype (big-endian for multi-byte types).
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "eval_images": "t10k-images-idx3-ubyte",
    "eval_labels": "t10k-labels-idx1-ubyte",
}
# Where the files are looked for under a root, in order (torchvision's layout second).
SUBFOLDERS = (".", "MNIST/raw", "raw", "mnist")


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in one IDX file (gzipped or not), checked against its header.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "x-idx1-ubyte"
        >>> write_idx(f, np.array([3, 1, 4], dtype=np.uint8))
        >>> read_idx(f).tolist()
        [3, 1, 4]
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise UserError(
            f"'{path}' could not be read ({exc})", "replace it with a good copy"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise UserError(
            f"'{path}' is not an IDX file (bad magic number)",
            "use MNIST's original files (train-images-idx3-ubyte, ...), gzipped or not",
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise UserError(
            f"'{path}' holds {len(raw)} bytes but its header {shape} says {expected}",
            "the file is truncated or corrupt: replace it with a good copy",
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` as an IDX file (gzipped when `path` ends in .gz); used by tests and tools."""
    array = np.ascontiguousarray(array)
    code = next(c for c, d in _DTYPES.items() if np.dtype(d) == array.dtype.newbyteorder(">")
                or np.dtype(d) == array.dtype)  # fmt: skip
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    body = array.astype(np.dtype(_DTYPES[code]), copy=False).tobytes()
    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + body)


def find_mnist(root: str | Path) -> dict[str, Path]:
    """The four MNIST files under `root` (plain or .gz, loose or in MNIST/raw/), by role."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(
            f"MNIST folder '{root}' does not exist",
            "put the four MNIST IDX files (train-images-idx3-ubyte, ...) there, or pass "
            "mnist:PATH to the folder that holds them",
        )
    for sub in SUBFOLDERS:
        folder = root / sub
        found = {role: _one_of(folder, stem) for role, stem in MNIST_FILES.items()}
        present = {role: p for role, p in found.items() if p is not None}
        if len(present) == len(MNIST_FILES):
            return present
        if present:
            missing = sorted(MNIST_FILES[r] for r in MNIST_FILES if r not in present)
            raise UserError(
                f"MNIST folder '{folder}' lacks {', '.join(missing)}",
                "copy all four IDX files (gzipped or not) into the same folder",
            )
    looked = ", ".join(str(root / s) for s in SUBFOLDERS if s != ".")
    raise UserError(
        f"no MNIST IDX files in '{root}' (nor in {looked}); nothing is downloaded",
        "put train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
        "t10k-labels-idx1-ubyte (or their .gz) there, or pass mnist:PATH",
    )


def _one_of(folder: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")  # the mirrors that renamed train-images-idx3-ubyte
    for name in (stem, f"{stem}.gz", dotted, f"{dotted}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None
