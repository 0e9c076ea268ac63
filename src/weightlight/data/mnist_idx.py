"""MNIST from the IDX files a learner already has (see `weightlight.idx`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from weightlight.data.arrays import from_tensors
from weightlight.data.bundle import Data
from weightlight.data.sklearn_digits import MNIST_MEAN, MNIST_STD
from weightlight.errors import UserError


def mnist(
    root: str | Path = "data", *, seed: int = 0, batch_size: int = 64, limit: int | None = None
) -> Data:
    """MNIST from the IDX files a learner already has (nothing is downloaded).

    `root` holds `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`
    and `t10k-labels-idx1-ubyte` (gzipped or not), loose or in torchvision's `MNIST/raw/`
    layout. Pixels are scaled to [0, 1] and normalized with MNIST's mean/std, as the seed
    course does; the t10k files are the evaluation split. `limit` keeps the first N training
    images (a quick run on 2 cores: 60,000 images are ~40x the digits' 1,437).

    Example:
        `data = wl.data.mnist("data")` or `weightlight run --data mnist:data`
    """
    from weightlight.idx import find_mnist, read_idx

    files = find_mnist(root)
    arrays = {role: read_idx(path) for role, path in files.items()}
    for split in ("train", "eval"):
        images = arrays[f"{split}_images"]
        if images.ndim != 3:
            raise UserError(
                f"{files[f'{split}_images']} holds shape {images.shape}, not N x H x W images",
                "check that the images and labels files are not swapped",
            )
    if limit is not None:
        if limit < 1:
            raise UserError(f"MNIST limit must be >= 1, got {limit}", "omit it to use all images")
        arrays["train_images"] = arrays["train_images"][:limit]
        arrays["train_labels"] = arrays["train_labels"][:limit]

    def images(key: str) -> torch.Tensor:
        x = torch.from_numpy(arrays[key].astype(np.float32)).unsqueeze(1) / 255.0
        return (x - MNIST_MEAN) / MNIST_STD

    def labels(key: str) -> torch.Tensor:
        return torch.from_numpy(arrays[key].astype(np.int64))

    return from_tensors(
        images("train_images"), labels("train_labels"), images("eval_images"),
        labels("eval_labels"), batch_size=batch_size, seed=seed, name="mnist",
    )  # fmt: skip
