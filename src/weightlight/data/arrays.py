"""Data from tensors or arrays already in memory: checked, split (seeded, stratified) and
batched. Every array-backed source (digits, MNIST, .npz, image folders) ends here."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from weightlight.data.bundle import Data
from weightlight.errors import UserError


def from_tensors(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_eval: torch.Tensor,
    y_eval: torch.Tensor,
    *,
    batch_size: int = 64,
    calib_size: int = 256,
    val_fraction: float = 0.15,
    seed: int = 0,
    name: str = "tensors",
) -> Data:
    """Build a Data bundle from ready tensors, checking them first.

    `val_fraction` of the training tensors (stratified, seeded) become the validation split
    and are not trained on; 0 keeps them all for training (selection then uses `x_eval`).
    """
    for split, x, y in (("train", x_train, y_train), ("eval", x_eval, y_eval)):
        check_split(name, split, x, y)
    if not 0 <= val_fraction < 1:
        raise UserError(f"val_fraction must be in [0, 1), got {val_fraction:g}", "use e.g. 0.15")
    num_classes = int(max(y_train.max(), y_eval.max())) + 1
    val = None
    n_val = round(len(x_train) * val_fraction)
    if n_val >= 1 and len(x_train) - n_val >= 1:
        idx_train, idx_val = _split(y_train, n_val, seed)
        x_val, y_val = x_train[idx_val], y_train[idx_val]
        x_train, y_train = x_train[idx_train], y_train[idx_train]
        val = DataLoader(TensorDataset(x_val, y_val), batch_size=256)
    g = torch.Generator().manual_seed(seed)
    calib_idx = torch.randperm(len(x_train), generator=g)[: min(calib_size, len(x_train))]
    train_ds = TensorDataset(x_train, y_train)
    return Data(
        train=DataLoader(
            train_ds,
            batch_size=batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
        ),
        calib=DataLoader(
            TensorDataset(x_train[calib_idx], y_train[calib_idx]), batch_size=batch_size
        ),
        eval=DataLoader(TensorDataset(x_eval, y_eval), batch_size=256),
        example_input=x_eval[:1].clone(),
        task="classification",
        num_classes=num_classes,
        name=name,
        val=val,
    )


def _split(y: torch.Tensor, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): stratified where every class has 2+ samples."""
    from sklearn.model_selection import train_test_split

    labels = y.numpy()
    stratify = labels if np.unique(labels, return_counts=True)[1].min() >= 2 else None
    try:
        return train_test_split(
            np.arange(len(labels)), test_size=n_val, random_state=seed, stratify=stratify
        )
    except ValueError:  # too few samples per class for a stratified split of this size
        return train_test_split(np.arange(len(labels)), test_size=n_val, random_state=seed)


def from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    eval_fraction: float = 0.2,
    seed: int = 0,
    batch_size: int = 64,
    name: str = "arrays",
) -> Data:
    """Split arrays into train / eval (stratified, seeded) and bundle them."""
    from sklearn.model_selection import train_test_split

    x_t, y_t = as_tensors(x, y, name)
    check_split(name, "all", x_t, y_t)
    stratify = y_t.numpy() if np.bincount(y_t.numpy()).min() >= 2 else None
    idx_train, idx_eval = train_test_split(
        np.arange(len(y_t)), test_size=eval_fraction, random_state=seed, stratify=stratify
    )
    return from_tensors(
        x_t[idx_train], y_t[idx_train], x_t[idx_eval], y_t[idx_eval],
        batch_size=batch_size, seed=seed, name=name,
    )  # fmt: skip


def as_tensors(x: np.ndarray, y: np.ndarray, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Arrays as (float or integer inputs, int64 labels), refusing non-numeric data."""
    x, y = np.asarray(x), np.asarray(y)
    if not np.issubdtype(x.dtype, np.number):
        raise UserError(f"{name}: inputs have dtype {x.dtype}", "store inputs as numbers")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise UserError(
                f"{name}: labels have dtype {y.dtype}", "store labels as integer class ids"
            )
    # Integer inputs (token ids) keep an integer dtype: an embedding table takes no floats.
    x_dtype = torch.float32 if not np.issubdtype(x.dtype, np.integer) else torch.long
    return torch.as_tensor(x, dtype=x_dtype), torch.as_tensor(y, dtype=torch.long)


def check_split(name: str, split: str, x: torch.Tensor, y: torch.Tensor) -> None:
    """Refuse an empty, mislabelled or non-finite split in one line."""
    if len(x) == 0:
        raise UserError(f"{name}: the {split} split is empty", "provide at least a few samples")
    if len(x) != len(y):
        raise UserError(
            f"{name}: {len(x)} inputs but {len(y)} labels in the {split} split",
            "give one label per input",
        )
    if y.dim() != 1:
        raise UserError(f"{name}: labels have shape {tuple(y.shape)}", "labels must be 1-D")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise UserError(
            f"{name}: the {split} inputs contain NaN or inf", "clean or impute them first"
        )
    if (y < 0).any():
        raise UserError(f"{name}: negative labels in the {split} split", "use ids 0..C-1")
