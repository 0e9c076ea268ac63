"""scikit-learn's bundled handwritten digits, shaped and normalized like MNIST (no download)."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from weightlight.data.arrays import from_arrays
from weightlight.data.bundle import Data

# MNIST's mean/std, so digits resized to 28x28 look like MNIST to a model trained on it.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def digits(
    *, seed: int = 0, batch_size: int = 64, image_size: int = 28, augment: bool = True
) -> Data:
    """scikit-learn's bundled handwritten digits, shaped like MNIST.

    The 1,797 8x8 images are scaled to [0, 1], resized to `image_size` (bilinear) and
    normalized with MNIST's mean/std; 360 images (20 %, stratified, fixed by `seed`) are held
    out as the test set, and 216 of the remaining 1,437 (15 %, stratified) form the validation
    split that selection uses. Nothing is downloaded. With `augment`, training images are shifted by
    up to 2 pixels: with only 1,221 training images this is what lifts the seed CNN from
    ~97.5 % to ~99 % test accuracy.

    Example:
        >>> data = digits()
        >>> tuple(data.example_input.shape)
        (1, 1, 28, 28)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if image_size != 8:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = (x - MNIST_MEAN) / MNIST_STD
    data = from_arrays(
        x.numpy(), bunch.target, eval_fraction=360 / 1797, seed=seed,
        batch_size=batch_size, name="digits",
    )  # fmt: skip
    if not augment:
        return data
    train = DataLoader(
        RandomShift(data.train.dataset, pixels=2, fill=-MNIST_MEAN / MNIST_STD),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    return dataclasses.replace(data, train=train)


class RandomShift(Dataset):
    """Translate each image by up to `pixels` in x and y, filling with the background value."""

    def __init__(self, dataset: Dataset, pixels: int = 2, fill: float = 0.0) -> None:
        self.dataset, self.pixels, self.fill = dataset, pixels, fill

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int):
        x, y = self.dataset[index]
        p = self.pixels
        padded = F.pad(x, (p, p, p, p), value=self.fill)
        dx, dy = torch.randint(0, 2 * p + 1, (2,)).tolist()
        return padded[:, dy : dy + x.shape[1], dx : dx + x.shape[2]], y
