"""A `.npz` file of inputs and labels, read without unpickling (pickles could run code)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from weightlight.data.arrays import as_tensors, from_arrays, from_tensors
from weightlight.data.bundle import Data
from weightlight.errors import UserError


def npz(path: str | Path, *, seed: int = 0, batch_size: int = 64) -> Data:
    """A `.npz` file with arrays `x` and `y` (and optionally `x_eval`, `y_eval`)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file '{path}' does not exist", "check the path")
    try:
        with np.load(path, allow_pickle=False) as npz_file:  # pickles in .npz could run code
            arrays = {key: npz_file[key] for key in npz_file.files}  # arrays load lazily: now
        keys = set(arrays)
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise UserError(
                f"'{path}' is not a readable .npz file ({type(exc).__name__})",
                "save it with numpy.savez(path, x=..., y=...)",
            ) from None
        raise UserError(
            f"'{path}' stores object arrays, which only load by unpickling (that can run code)",
            "save plain numeric arrays with numpy.savez(path, x=..., y=...)",
        ) from None
    except Exception as exc:
        raise UserError(
            f"'{path}' is not a readable .npz file ({type(exc).__name__})",
            "save it with numpy.savez(path, x=..., y=...)",
        ) from None
    if not {"x", "y"} <= keys:
        raise UserError(
            f"'{path}' has arrays {sorted(keys)} but needs 'x' and 'y'",
            "save it with numpy.savez(path, x=inputs, y=labels)",
        )
    if {"x_eval", "y_eval"} <= keys:
        x_t, y_t = as_tensors(arrays["x"], arrays["y"], path.name)
        x_e, y_e = as_tensors(arrays["x_eval"], arrays["y_eval"], path.name)
        return from_tensors(x_t, y_t, x_e, y_e, batch_size=batch_size, seed=seed, name=path.name)
    return from_arrays(arrays["x"], arrays["y"], seed=seed, batch_size=batch_size, name=path.name)
